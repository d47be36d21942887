// OpenEntity and FIGER as K-Adapter releases them: objects with `sent` (the sentence), `start`
// and `end` (the mention's character offsets, end exclusive) and `labels` (its types); a JSON
// array or JSON lines. `text` is accepted for `sent` (this project's own column name); other
// fields (`ents`, ids) are dropped. Offsets are checked against the sentence, not trusted. A
// record without `labels` (or null) is unlabelled data for predict: stored with labels [].
import { type Item, jsonObjects } from "./source.ts";

export async function* entityTypingJson(path: string): AsyncGenerator<Item> {
  for await (const item of jsonObjects(path)) {
    if (!("row" in item)) {
      yield item;
      continue;
    }
    const r = item.row;
    yield {
      at: item.at,
      row: { text: r.sent ?? r.text, start: r.start, end: r.end, labels: r.labels ?? [] },
    };
  }
}
