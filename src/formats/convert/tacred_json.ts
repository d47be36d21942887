// The official TACRED JSON (LDC2018T24): a JSON array (or JSON lines) of objects with `token`,
// `subj_start`, `subj_end`, `obj_start`, `obj_end` (inclusive word indices) and `relation`
// (one of 42 labels, `no_relation` among them). The other fields (`id`, `docid`, `subj_type`,
// `obj_type`, `stanford_*`) are dropped. A record without `relation` (or null) is unlabelled
// data for predict: stored with relation "".
import { type Item, jsonObjects } from "./source.ts";

const FIELDS = ["token", "subj_start", "subj_end", "obj_start", "obj_end"];

export async function* tacredJson(path: string): AsyncGenerator<Item> {
  for await (const item of jsonObjects(path)) {
    if (!("row" in item)) {
      yield item;
      continue;
    }
    const row = Object.fromEntries(FIELDS.map((f) => [f, item.row[f]]));
    yield { at: item.at, row: { ...row, relation: item.row.relation ?? "" } };
  }
}
