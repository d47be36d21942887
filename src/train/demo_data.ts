// The demo's dataset: JSON-lines rows {text, label} and a word vocabulary (data/reviews/),
// turned into fixed-length id batches with a [CLS] first token and a padding mask.
export interface Example {
  ids: number[];
  label: number;
}

export interface TextDataset {
  vocab: string[];
  train: Example[];
  test: Example[];
  /** Longest example in tokens, [CLS] included. */
  maxLength: number;
}

export const PAD = 0;
export const CLS = 1;
export const UNK = 2;

function readRows(path: string, index: Map<string, number>): Example[] {
  return Deno.readTextFileSync(path).split("\n").filter((l) => l.trim() !== "").map((line, i) => {
    const row = JSON.parse(line);
    if (typeof row.text !== "string" || !Number.isInteger(row.label)) {
      throw new Error(`${path}:${i + 1}: expected {"text": string, "label": integer}`);
    }
    const words = row.text.split(/\s+/).filter((w: string) => w !== "");
    return { ids: [CLS, ...words.map((w: string) => index.get(w) ?? UNK)], label: row.label };
  });
}

/** Reads vocab.txt, train.jsonl and test.jsonl from `dir`. */
export function loadTextDataset(dir: string): TextDataset {
  const vocab = Deno.readTextFileSync(`${dir}/vocab.txt`).split("\n").filter((w) => w !== "");
  if (vocab[PAD] !== "[PAD]" || vocab[CLS] !== "[CLS]" || vocab[UNK] !== "[UNK]") {
    throw new Error(`${dir}/vocab.txt must start with [PAD], [CLS], [UNK]`);
  }
  const index = new Map(vocab.map((w, i) => [w, i]));
  const train = readRows(`${dir}/train.jsonl`, index);
  const test = readRows(`${dir}/test.jsonl`, index);
  const maxLength = Math.max(...train.map((e) => e.ids.length), ...test.map((e) => e.ids.length));
  return { vocab, train, test, maxLength };
}

export interface Batch {
  /** Token ids [size, seq], padded with PAD. */
  ids: Int32Array;
  /** 1 for real tokens, 0 for padding [size, seq]. */
  keep: Uint8Array;
  labels: Int32Array;
  size: number;
  seq: number;
}

/** Packs examples into one batch padded to `seq`. */
export function makeBatch(examples: Example[], seq: number): Batch {
  const n = examples.length;
  const ids = new Int32Array(n * seq), keep = new Uint8Array(n * seq);
  examples.forEach((e, b) => {
    if (e.ids.length > seq) throw new Error(`example of ${e.ids.length} tokens exceeds ${seq}`);
    ids.set(e.ids, b * seq);
    keep.fill(1, b * seq, b * seq + e.ids.length);
  });
  return { ids, keep, labels: Int32Array.from(examples, (e) => e.label), size: n, seq };
}
