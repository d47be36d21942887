// Encoded examples in flat typed arrays: a task turns each dataset row into token ids (plus
// per-token labels) and a few per-example numbers, appended here as the Arrow batches stream
// by. 5.5M T-REx sentences take a few hundred MB this way instead of millions of JS objects,
// and a training batch is a gather of index ranges.

/** Growable typed column (doubling), trimmed views only. */
class Column<A extends Int32Array | Uint16Array> {
  #data: A;
  length = 0;

  constructor(readonly make: (n: number) => A) {
    this.#data = make(1024);
  }

  push(values: ArrayLike<number>): void {
    if (this.length + values.length > this.#data.length) {
      const grown = this.make(Math.max(2 * this.#data.length, this.length + values.length));
      grown.set(this.#data.subarray(0, this.length));
      this.#data = grown;
    }
    this.#data.set(values, this.length);
    this.length += values.length;
  }

  view(start: number, end: number): A {
    return this.#data.subarray(start, end) as A;
  }
}

export interface Example {
  /** `<s> ... </s>` token ids. */
  ids: ArrayLike<number>;
  /** Per-token integer columns, each as long as ids (e.g. lin's head positions). */
  tokens?: Record<string, ArrayLike<number>>;
  /** Per-example integers (e.g. fac's marker positions and relation id). */
  values?: Record<string, number>;
}

export class Examples {
  readonly #ids: Column<Int32Array | Uint16Array>;
  readonly #tokens: Map<string, Column<Int32Array>>;
  readonly #values: Map<string, Column<Int32Array>>;
  readonly #offsets = new Column((n) => new Int32Array(n));

  /**
   * `vocab` sizes the id column (16-bit below 65,536 ids, as RoBERTa's 50,265);
   * `tokenColumns` and `valueColumns` name what each example carries.
   */
  constructor(vocab: number, tokenColumns: string[] = [], valueColumns: string[] = []) {
    this.#ids = new Column<Int32Array | Uint16Array>((n) =>
      vocab <= 65536 ? new Uint16Array(n) : new Int32Array(n)
    );
    const i32 = () => new Column((n) => new Int32Array(n));
    this.#tokens = new Map(tokenColumns.map((c) => [c, i32()]));
    this.#values = new Map(valueColumns.map((c) => [c, i32()]));
    this.#offsets.push([0]);
  }

  get length(): number {
    return this.#offsets.length - 1;
  }

  /** Tokens held in all. */
  get tokenCount(): number {
    return this.#ids.length;
  }

  add(e: Example): void {
    // Everything is checked before anything is stored, so a refused example leaves no trace.
    for (const name of this.#tokens.keys()) {
      const t = e.tokens?.[name];
      if (!t || t.length !== e.ids.length) {
        throw new Error(`example column ${name}: needs ${e.ids.length} values`);
      }
    }
    for (const name of this.#values.keys()) {
      if (!Number.isInteger(e.values?.[name])) throw new Error(`example value ${name} is missing`);
    }
    for (const [name, col] of this.#tokens) col.push(e.tokens![name]);
    for (const [name, col] of this.#values) col.push([e.values![name]]);
    this.#ids.push(e.ids);
    this.#offsets.push([this.#ids.length]);
  }

  #range(i: number): [number, number] {
    if (!(Number.isInteger(i) && i >= 0 && i < this.length)) {
      throw new Error(`example ${i} of ${this.length}`);
    }
    const o = this.#offsets.view(i, i + 2);
    return [o[0], o[1]];
  }

  ids(i: number): Int32Array | Uint16Array {
    return this.#ids.view(...this.#range(i));
  }

  tokens(i: number, name: string): Int32Array {
    return this.#column(this.#tokens, name).view(...this.#range(i));
  }

  value(i: number, name: string): number {
    this.#range(i);
    return this.#column(this.#values, name).view(i, i + 1)[0];
  }

  #column(m: Map<string, Column<Int32Array>>, name: string): Column<Int32Array> {
    const c = m.get(name);
    if (!c) throw new Error(`examples have no column ${name}`);
    return c;
  }
}

/** A padded batch: [batch, seqLen] ids and mask, padded to the batch's longest example. */
export interface PaddedBatch {
  inputIds: Int32Array;
  attentionMask: Int32Array;
  batch: number;
  seqLen: number;
  /** The examples' indices, in row order. */
  indices: number[];
}

/** Pads the chosen examples to the longest of them (not to the maximum length). */
export function padBatch(ex: Examples, indices: number[], padId: number): PaddedBatch {
  const seqLen = Math.max(...indices.map((i) => ex.ids(i).length));
  const inputIds = new Int32Array(indices.length * seqLen).fill(padId);
  const attentionMask = new Int32Array(indices.length * seqLen);
  indices.forEach((i, row) => {
    const ids = ex.ids(i);
    inputIds.set(ids, row * seqLen);
    attentionMask.fill(1, row * seqLen, row * seqLen + ids.length);
  });
  return { inputIds, attentionMask, batch: indices.length, seqLen, indices };
}

/** A per-token column of the batch, padded with `fill`: [batch * seqLen]. */
export function padTokens(
  ex: Examples,
  b: PaddedBatch,
  name: string,
  fill: number,
): Int32Array {
  const out = new Int32Array(b.batch * b.seqLen).fill(fill);
  b.indices.forEach((i, row) => out.set(ex.tokens(i, name), row * b.seqLen));
  return out;
}
