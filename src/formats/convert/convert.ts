// Source files to a documented Arrow schema: every row checked, a bad one either stops the
// conversion with its file, line and field, or (skipBad) is counted by reason and left out.
import { writeArrow } from "../arrow_write.ts";
import { DataError, PROBLEM, type Rows, type SchemaName } from "../schemas.ts";
import { conllu } from "./conllu.ts";
import { cosmosqaJsonl } from "./cosmosqa_jsonl.ts";
import { entityTypingJson } from "./entity_typing_json.ts";
import { findHeadJson } from "./find_head_json.ts";
import { lamaGoogleRe, lamaMasked, lamaTrex } from "./lama.ts";
import { searchqaJson } from "./searchqa_json.ts";
import type { Item, ReadOptions } from "./source.ts";
import { tacredJson } from "./tacred_json.ts";
import { plainText } from "./text.ts";
import { trexRcJson } from "./trex_rc_json.ts";

export const FORMATS: Record<
  string,
  {
    schema: SchemaName;
    read: (p: string, opts: ReadOptions) => AsyncGenerator<Item>;
    /** The format needs relation templates (ReadOptions.relations). */
    needsRelations?: boolean;
  }
> = {
  "trex-rc-json": { schema: "trex-rc", read: trexRcJson },
  conllu: { schema: "dependency", read: conllu },
  "find-head-json": { schema: "dependency", read: findHeadJson },
  text: { schema: "text", read: plainText },
  "lama-trex": { schema: "lama", read: lamaTrex, needsRelations: true },
  "lama-google-re": { schema: "lama", read: lamaGoogleRe, needsRelations: true },
  "lama-masked": { schema: "lama", read: lamaMasked },
  "entity-typing-json": { schema: "entity-typing", read: entityTypingJson },
  "tacred-json": { schema: "relation", read: tacredJson },
  "cosmosqa-jsonl": { schema: "multiple-choice", read: cosmosqaJsonl },
  "searchqa-json": { schema: "span-qa", read: searchqaJson },
};
export type Format = keyof typeof FORMATS;

export interface ConvertResult {
  rows: number;
  /**
   * Rows left out, by reason: bad rows (only with skipBad) and rows a format leaves out by
   * design (LAMA duplicates, Google-RE judgments), always.
   */
  skipped: Record<string, number>;
}

export interface ConvertOptions extends ReadOptions {
  skipBad?: boolean;
}

export async function convert(
  format: Format,
  input: string,
  out: string,
  { skipBad = false, ...readOptions }: ConvertOptions = {},
): Promise<ConvertResult> {
  const { schema, read } = FORMATS[format];
  const skipped: Record<string, number> = {};
  async function* good(): AsyncGenerator<Rows[SchemaName]> {
    for await (const item of read(input, readOptions)) {
      if ("dropped" in item) {
        skipped[item.dropped] = (skipped[item.dropped] ?? 0) + 1;
        continue;
      }
      const bad = "problem" in item ? item.problem : PROBLEM[schema](item.row);
      if (!bad) {
        yield (item as { row: unknown }).row as Rows[SchemaName];
      } else if (skipBad) {
        skipped[bad.reason] = (skipped[bad.reason] ?? 0) + 1;
      } else {
        throw new DataError(item.file ?? input, item.at, bad.field, bad.reason, bad.detail);
      }
    }
  }
  const rows = await writeArrow(out, schema, good());
  return { rows, skipped };
}
