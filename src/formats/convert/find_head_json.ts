// The released linguistic (find-head) data: objects with the words and each word's head.
// Assumed, as the repository documents no schema: words under `tokens` or `token`, heads
// under `heads` or `head`, heads 1-based with 0 = root (the CoNLL convention); a JSON
// array or JSON lines. Heads that break this show up as out-of-range errors, not silently.
import { type Item, jsonObjects } from "./source.ts";

export async function* findHeadJson(path: string): AsyncGenerator<Item> {
  for await (const item of jsonObjects(path)) {
    if (!("row" in item)) {
      yield item;
      continue;
    }
    const r = item.row;
    yield { at: item.at, row: { tokens: r.tokens ?? r.token, heads: r.heads ?? r.head } };
  }
}
