// linAdapter pretraining (reference section 4): dependency head prediction. Every word's
// first subword is labelled with the position of its head's first subword (root: `<s>` at 0);
// the released code put word labels in subword slots, which this fixes. The head scores all
// maxLength positions; cross-entropy over labelled tokens (the code) or BCE against one-hot
// targets (the paper).
import type { DepRow } from "../formats/schemas.ts";
import { alignHeads, alignWords } from "../formats/align.ts";
import { DEFAULT_TOKENIZATION, releasedIds, type Tokenization } from "../formats/tokenization.ts";
import type { RobertaTokenizer } from "../formats/tokenizer.ts";
import { type LinHead, linLoss } from "../models/kadapter_heads.ts";
import { bceWithLogits, indexSelect, reshape, Tensor } from "../tensor/mod.ts";
import { IGNORE, uas } from "./metrics.ts";
import { type Example, Examples, padBatch, padTokens } from "./examples.ts";
import type { Infused } from "./infusion.ts";
import { argmaxRows, type Encoding, evaluateBatches, type Task } from "./task.ts";

export type LinLoss = "ce" | "bce";

export const SKIP_NO_LABEL = "no word left after truncation";

/** Token column of lin examples: the head position, IGNORE where nothing is scored. */
export const LIN_TOKENS = ["head"];

/**
 * `<s> words </s>` cut to maxLength, head labels on first subwords. `original`: each word
 * tokenized on its own by the released tokenizer (lin's utils_glue.py find_head: a leading
 * space on every word, the first too); `hf`: the first word bare.
 */
export function encodeLin(
  tok: RobertaTokenizer,
  row: DepRow,
  maxLength: number,
  scheme: Tokenization = DEFAULT_TOKENIZATION,
): Example | string {
  const encodeWord = scheme === "original"
    ? (w: { text: string }) => releasedIds(tok, w.text)
    : undefined;
  const a = alignWords(tok, row.tokens, { maxLength, encodeWord });
  const head = alignHeads(a, row.heads, IGNORE);
  if (!head.some((h) => h !== IGNORE)) return SKIP_NO_LABEL;
  return { ids: a.ids, tokens: { head } };
}

function linLogits(m: Infused<LinHead>, ex: Examples, indices: number[], padId: number) {
  const b = padBatch(ex, indices, padId);
  const f = m.model.features(b, ex);
  return { b, logits: m.head.forward(f.last, f.adapter, f.mask) };
}

/** Cross-entropy over labelled tokens (`ce`, the code) or BCE against one-hot heads (`bce`). */
function linBatchLoss(
  m: Infused<LinHead>,
  ex: Examples,
  indices: number[],
  padId: number,
  loss: LinLoss,
): Tensor {
  const { b, logits } = linLogits(m, ex, indices, padId);
  const gold = padTokens(ex, b, "head", IGNORE);
  if (loss === "ce") return linLoss(logits, gold);
  // BCE over the labelled tokens' rows, each against the one-hot of its head position.
  const n = logits.shape[2];
  const rows = [...gold.keys()].filter((i) => gold[i] !== IGNORE);
  const target = new Float32Array(rows.length * n);
  rows.forEach((r, k) => (target[k * n + gold[r]] = 1));
  const picked = indexSelect(
    reshape(logits, [b.batch * b.seqLen, n]),
    0,
    Tensor.from(rows, [rows.length], "i32"),
  );
  return bceWithLogits(picked, Tensor.from(target, [rows.length, n]));
}

/** linAdapter's task: the `loss` of choice; head accuracy (UAS) over labelled tokens on dev. */
export function linTask(
  c: Encoding,
  loss: LinLoss,
): Task<"dependency", Example, Examples, Infused<LinHead>> {
  return {
    name: "lin",
    schema: "dependency",
    bestMetric: "uas",
    store: () => new Examples(c.vocab, LIN_TOKENS),
    encode: (row) => encodeLin(c.tok, row, c.maxLength, c.tokenization),
    loss: (m, ex, indices) => linBatchLoss(m, ex, indices, c.padId, loss),
    async evaluate(m, { ex }, batchSize) {
      const gold: number[] = [], pred: number[] = [];
      const n = m.head.config.labels;
      await evaluateBatches(
        ex.length,
        (i) => ex.ids(i).length,
        batchSize,
        [m.model.adapter, m.head],
        (indices) => linLogits(m, ex, indices, c.padId).logits,
        (indices, logits) => {
          const best = argmaxRows(logits, n);
          const seqLen = best.length / indices.length;
          indices.forEach((i, r) => {
            ex.tokens(i, "head").forEach((g, s) => {
              gold.push(g);
              pred.push(best[r * seqLen + s]);
            });
          });
        },
      );
      return { metrics: { uas: uas(gold, pred) }, predictions: [] };
    },
  };
}
