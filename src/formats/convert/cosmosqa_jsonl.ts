// CosmosQA's JSON lines (a JSON array works too): `context`, `question`, `answer0`..`answer3`
// and `label`, the right answer's index, an integer or a string of digits ("2", as in the
// released files). The four answers become `choices`; `id` is dropped. A record without
// `label` (or null; the unlabelled test split) is data for predict: stored with label -1.
import { type Item, jsonObjects } from "./source.ts";

const ANSWERS = ["answer0", "answer1", "answer2", "answer3"];

export async function* cosmosqaJsonl(path: string): AsyncGenerator<Item> {
  for await (const item of jsonObjects(path)) {
    if (!("row" in item)) {
      yield item;
      continue;
    }
    const r = item.row;
    const missing = ANSWERS.find((a) => typeof r[a] !== "string");
    if (missing) {
      const v = r[missing];
      yield {
        at: item.at,
        problem: v === undefined || v === null
          ? { field: missing, reason: `${missing} missing`, detail: "missing (expected string)" }
          : {
            field: missing,
            reason: `${missing} wrong type`,
            detail: `${JSON.stringify(v)} is not string`,
          },
      };
      continue;
    }
    const label = typeof r.label === "string" && /^\d+$/.test(r.label)
      ? Number(r.label)
      : r.label ?? -1;
    yield {
      at: item.at,
      row: { context: r.context, question: r.question, choices: ANSWERS.map((a) => r[a]), label },
    };
  }
}
