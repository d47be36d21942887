// Embedding table [count, dim] (`weight`), looked up by i32 ids. A table larger than one
// storage binding (roberta-large's words: 206 MB in f32, over llvmpipe's 128 MiB) is kept in
// pieces of consecutive rows (`weight.0`, `weight.1`, ...), each a parameter of its own.
import { gpu } from "../gpu/device.ts";
import { sizeClass } from "../gpu/pool.ts";
import { add, cast, embedding, mul, slice, Tensor } from "../tensor/mod.ts";
import { normal, type Rng } from "./init.ts";
import { Module } from "./module.ts";

/** Rows of `dim` values of `bytes` each that one storage binding holds, in the pool's sizes. */
export function bindingRows(dim: number, bytes = 4): number {
  const limit = gpu().limits.maxStorageBufferBindingSize;
  let rows = Math.floor(limit / (dim * bytes));
  while (rows > 1 && sizeClass(rows * dim * bytes) > limit) rows -= Math.ceil(rows / 64);
  return rows;
}

export class Embedding extends Module {
  /** The table in pieces of consecutive rows (one unless it exceeds `rowsPerPiece`). */
  readonly pieces: readonly Tensor[];

  /** `rowsPerPiece` defaults to what one storage binding holds. */
  constructor(
    readonly count: number,
    readonly dim: number,
    rng: Rng,
    std: number,
    rowsPerPiece = bindingRows(dim),
  ) {
    super();
    if (!(Number.isInteger(rowsPerPiece) && rowsPerPiece > 0)) {
      throw new Error(`rowsPerPiece ${rowsPerPiece}: not a count`);
    }
    const n = Math.max(1, Math.ceil(count / rowsPerPiece));
    // Drawn piece after piece from one stream: the same values as the whole table at once.
    this.pieces = Array.from({ length: n }, (_, i) => {
      const rows = Math.min(rowsPerPiece, count - i * rowsPerPiece);
      return this.param(n === 1 ? "weight" : `weight.${i}`, normal(rng, [rows, dim], std));
    });
  }

  /** The whole table, when it is one piece. */
  get weight(): Tensor {
    if (this.pieces.length !== 1) {
      throw new Error(`this embedding table is in ${this.pieces.length} pieces`);
    }
    return this.pieces[0];
  }

  /** Zeroes row `r` (padding rows, as transformers initialises them). */
  zeroRow(r: number): void {
    let lo = 0;
    for (const p of this.pieces) {
      if (r < lo + p.shape[0]) {
        const row = slice(p, 0, r - lo, r - lo + 1);
        row.write(new Float32Array(this.dim));
        return row.dispose();
      }
      lo += p.shape[0];
    }
    throw new Error(`row ${r} is outside the table (${this.count} rows)`);
  }

  /**
   * ids (i32, uploaded from the CPU) -> [...ids.shape, dim]. With pieces, each looks up the ids
   * in its rows (others read its row 0, masked to zero), so gradients reach every piece.
   */
  forward(ids: Tensor): Tensor {
    if (this.pieces.length === 1) return embedding(this.pieces[0], ids);
    const host = ids.storage.host;
    if (!host || !ids.isContiguous()) {
      throw new Error("a table in pieces looks up dense ids uploaded from the CPU");
    }
    const values = host.subarray(ids.offset, ids.offset + ids.size);
    for (const v of values) {
      if (!(v >= 0 && v < this.count)) {
        throw new Error(`id ${v} is outside the table (${this.count} rows)`);
      }
    }
    let lo = 0, sum: Tensor | null = null;
    for (const piece of this.pieces) {
      const hi = lo + piece.shape[0];
      const inside = Array.from(values, (v) => (v >= lo && v < hi ? 1 : 0));
      const local = Tensor.from(
        Array.from(values, (v, i) => inside[i] * (v - lo)),
        ids.shape,
        "i32",
      );
      const mask = Tensor.from(inside, [...ids.shape, 1]);
      // In the table's dtype: an f32 mask would make an f16 table's vectors f32.
      const part = mul(
        embedding(piece, local),
        piece.dtype === "f32" ? mask : cast(mask, piece.dtype),
      );
      sum = sum ? add(sum, part) : part;
      lo = hi;
    }
    return sum!;
  }
}
