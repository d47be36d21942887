// The released K-Adapter T-REx-rc files: objects with `token`, `subj_start`, `subj_end`,
// `obj_start`, `obj_end` (inclusive word indices) and `relation`; other fields are dropped.
import { type Item, jsonObjects } from "./source.ts";

const FIELDS = ["token", "subj_start", "subj_end", "obj_start", "obj_end", "relation"];

export async function* trexRcJson(path: string): AsyncGenerator<Item> {
  for await (const item of jsonObjects(path)) {
    yield "row" in item
      ? { at: item.at, row: Object.fromEntries(FIELDS.map((f) => [f, item.row[f]])) }
      : item;
  }
}
