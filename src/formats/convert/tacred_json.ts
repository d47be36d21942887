// The official TACRED JSON (LDC2018T24): a JSON array (or JSON lines) of objects with `token`,
// `subj_start`, `subj_end`, `obj_start`, `obj_end` (inclusive word indices) and `relation`
// (one of 42 labels, `no_relation` among them). The other fields (`id`, `docid`, `subj_type`,
// `obj_type`, `stanford_*`) are dropped.
import { type Item, jsonObjects } from "./source.ts";

const FIELDS = ["token", "subj_start", "subj_end", "obj_start", "obj_end", "relation"];

export async function* tacredJson(path: string): AsyncGenerator<Item> {
  for await (const item of jsonObjects(path)) {
    yield "row" in item
      ? { at: item.at, row: Object.fromEntries(FIELDS.map((f) => [f, item.row[f]])) }
      : item;
  }
}
