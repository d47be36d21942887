// The frozen encoder's forward-only path: no tape, each layer's activations freed as soon as
// the next hidden state exists, and only the hidden states the caller asks for kept (adapters
// read a few layers). Weights live in a map by HF name, so a folder loads straight into the
// compute dtype: in f16 the embedding tables and every linear weight and bias are f16
// (LayerNorm parameters stay f32; layer norm and softmax accumulate in f32 either way), and no
// f32 copy is ever on the GPU. RobertaModel (roberta.ts) is the trainable path; tests check
// that both compute the same.
import { gpu, GpuError } from "../gpu/device.ts";
import { upload } from "../gpu/queue.ts";
import { loadIntoTensors, openModelFolder, resolveWeights } from "../formats/hf_folder.ts";
import type { RobertaConfig } from "../formats/hf_config.ts";
import {
  add,
  cast,
  embedding,
  gelu,
  keep,
  layerNorm,
  linear,
  matmul,
  matmulRaw,
  mul,
  noGrad,
  permute,
  reshape,
  slice,
  softmax,
  Tensor,
  tidy,
  transpose,
} from "../tensor/mod.ts";
import { BYTES, type DType } from "../tensor/tensor.ts";
import { mlmLogits } from "./mlm_head.ts";
import type { RobertaModel } from "./roberta.ts";
import { type RobertaDims, robertaDims, robertaShapes } from "./roberta_config.ts";
import { type EncoderInput, type InputTensors, inputTensors } from "./roberta_inputs.ts";

export type ComputeType = "f32" | "f16";

export interface FrozenOptions {
  /** Compute in f16 (needs shader-f16). */
  f16?: boolean;
  /** Load the masked-LM head (default: when the folder has it). */
  lmHead?: boolean;
  /** Rows per piece of the word-embedding table (default: what one storage binding holds). */
  tableRows?: number;
}

const WORDS = "embeddings.word_embeddings.weight";

/** LayerNorm parameters keep f32 in every compute type. */
const isNorm = (name: string) => /(LayerNorm|layer_norm)\.(weight|bias)$/.test(name);

function computeType(f16: boolean | undefined): ComputeType {
  if (f16 && !gpu().hasF16) {
    throw new GpuError("f16 compute needs shader-f16, which this GPU adapter does not offer");
  }
  return f16 ? "f16" : "f32";
}

export class FrozenRoberta {
  readonly dims: RobertaDims;
  /** Every weight but the word embeddings, by HF name. */
  readonly #w: Map<string, Tensor>;
  /**
   * The word embeddings in pieces of consecutive rows: roberta-large's table (206 MB in f32)
   * exceeds the 128 MiB storage binding of some adapters (llvmpipe).
   */
  readonly #words: Tensor[];
  /** The tensors this object made (not shared with a RobertaModel), freed by dispose(). */
  readonly #owned: Tensor[];

  private constructor(
    readonly config: RobertaConfig,
    readonly dtype: ComputeType,
    weights: Map<string, Tensor>,
    words: Tensor[],
    owned: Tensor[],
  ) {
    this.dims = robertaDims(config);
    this.#w = weights;
    this.#words = words;
    this.#owned = owned;
  }

  /** Loads a model folder straight into the compute type. */
  static async fromFolder(dir: string, opts: FrozenOptions = {}): Promise<FrozenRoberta> {
    const dtype = computeType(opts.f16);
    const { config, weights } = await openModelFolder(dir);
    const owned: Tensor[] = [];
    const empty = (shape: number[], type: DType, name: string) => {
      const t = keep(Tensor.empty(shape, type, name));
      owned.push(t);
      return t;
    };
    try {
      const d = robertaDims(config);
      const shapes = robertaShapes(d, opts.lmHead ?? weights.tensors.has("lm_head.dense.weight"));
      // Every missing tensor and wrong shape is reported before anything is allocated.
      const source = resolveWeights(weights, shapes).sources.find((s) => s.name === WORDS)!.source;
      const params = shapes.filter(([name]) => name !== WORDS).map(([name, shape]) =>
        [name, empty(shape, isNorm(name) ? "f32" : dtype, name)] as const
      );
      await loadIntoTensors(weights, params);
      const rows = opts.tableRows ??
        Math.floor(gpu().limits.maxStorageBufferBindingSize / (d.hidden * BYTES[dtype]));
      if (!(Number.isInteger(rows) && rows > 0)) throw new Error(`tableRows ${rows}: not a count`);
      const table = await weights.tensors.get(source)!.file.readF32(source);
      const words: Tensor[] = [];
      for (let r = 0; r < d.vocab; r += rows) {
        const piece = empty([Math.min(rows, d.vocab - r), d.hidden], dtype, WORDS);
        const part = table.subarray(r * d.hidden, (r + piece.shape[0]) * d.hidden);
        upload(piece.buffer, 0, dtype === "f16" ? new Float16Array(part) : part);
        words.push(piece);
      }
      return new FrozenRoberta(config, dtype, new Map(params), words, owned);
    } catch (e) {
      owned.forEach((t) => t.dispose());
      throw e;
    } finally {
      weights.close();
    }
  }

  /** The model's current weights: shared in f32, cast once in f16. */
  static fromModel(model: RobertaModel, opts: { f16?: boolean } = {}): FrozenRoberta {
    const dtype = computeType(opts.f16);
    const owned: Tensor[] = [];
    const convert = (name: string, t: Tensor): Tensor => {
      if (dtype === "f32" || isNorm(name)) return t;
      const c = keep(noGrad(() => cast(t, dtype)));
      owned.push(c);
      return c;
    };
    // The word table may be in pieces (`weight.0`, `weight.1`, ...): they stay pieces here.
    const weights = new Map(
      model.namedParameters().filter(([name]) => !name.startsWith(WORDS))
        .map(([name, t]) => [name, convert(name, t)]),
    );
    const words = model.embeddings.word_embeddings.pieces.map((t) => convert(WORDS, t));
    return new FrozenRoberta(model.config, dtype, weights, words, owned);
  }

  #get(name: string): Tensor {
    const t = this.#w.get(name);
    if (!t) throw new Error(`the frozen RoBERTa has no ${name} (loaded without an lm_head?)`);
    return t;
  }

  #linear(x: Tensor, name: string): Tensor {
    return linear(x, this.#get(`${name}.weight`), this.#get(`${name}.bias`));
  }

  #norm(x: Tensor, name: string): Tensor {
    return layerNorm(
      x,
      this.#get(`${name}.weight`),
      this.#get(`${name}.bias`),
      this.dims.layerNormEps,
    );
  }

  /** Word vectors of the ids; with a split table, each piece supplies the ids in its rows. */
  #wordVectors(input: EncoderInput, ids: Tensor): Tensor {
    if (this.#words.length === 1) return embedding(this.#words[0], ids);
    let row = 0, sum: Tensor | null = null;
    for (const piece of this.#words) {
      const lo = row, hi = row += piece.shape[0];
      const inside = Array.from(input.inputIds, (id) => (id >= lo && id < hi ? 1 : 0));
      const local = Tensor.from(
        inside.map((k, i) => k * (input.inputIds[i] - lo)),
        ids.shape,
        "i32",
      );
      const mask = Tensor.from(inside, [...ids.shape, 1]);
      const part = mul(
        embedding(piece, local),
        this.dtype === "f32" ? mask : cast(mask, this.dtype),
      );
      sum = sum ? add(sum, part) : part;
    }
    return sum!;
  }

  #embed(input: EncoderInput, t: InputTensors): Tensor {
    const e = "embeddings.";
    let x = this.#wordVectors(input, t.ids);
    x = add(x, slice(this.#get(`${e}token_type_embeddings.weight`), 0, 0, 1));
    x = add(x, embedding(this.#get(`${e}position_embeddings.weight`), t.positions));
    return this.#norm(x, `${e}LayerNorm`);
  }

  /** One post-LN layer, as nn/transformer.ts computes it in eval mode. */
  #layer(l: number, x: Tensor, mask: Tensor): Tensor {
    const p = `encoder.layer.${l}.`, [b, s, h] = x.shape, heads = this.dims.heads;
    const split = (t: Tensor) => permute(reshape(t, [b, s, heads, h / heads]), [0, 2, 1, 3]);
    const q = split(this.#linear(x, `${p}attention.self.query`));
    const k = split(this.#linear(x, `${p}attention.self.key`));
    const v = split(this.#linear(x, `${p}attention.self.value`));
    // The 1/sqrt(head_dim) scale is applied in the product, before any f16 rounding.
    const scores = matmulRaw(q, transpose(k), null, 1 / Math.sqrt(h / heads));
    const ctx = reshape(permute(matmul(softmax(scores, mask), v), [0, 2, 1, 3]), [b, s, h]);
    const a = this.#norm(
      add(this.#linear(ctx, `${p}attention.output.dense`), x),
      `${p}attention.output.LayerNorm`,
    );
    const f = this.#linear(gelu(this.#linear(a, `${p}intermediate.dense`)), `${p}output.dense`);
    return this.#norm(add(f, a), `${p}output.LayerNorm`);
  }

  /**
   * The hidden states listed in `keep` (0 = embedding output, k = layer k's output), in that
   * order, in the compute type; layers past the last one asked for are not run. The rest is
   * freed as it goes: the GPU holds at most the kept states plus one layer's activations.
   */
  hiddenStates(input: EncoderInput, opts: { keep?: number[] | "all" } = {}): Tensor[] {
    const L = this.dims.layers;
    const want = opts.keep === "all" || opts.keep === undefined
      ? Array.from({ length: L + 1 }, (_, i) => i)
      : opts.keep;
    if (want.length === 0) throw new Error("keep lists no hidden state");
    for (const i of want) {
      if (!Number.isInteger(i) || i < 0 || i > L) {
        throw new Error(`hidden state ${i} does not exist (the model has 0 .. ${L})`);
      }
    }
    const last = Math.max(...want);
    return noGrad(() => {
      const t = inputTensors(input, this.dims);
      const kept = new Map<number, Tensor>();
      let h: Tensor | null = null;
      try {
        h = tidy(() => this.#embed(input, t));
        for (let i = 0;; i++) {
          if (want.includes(i)) kept.set(i, h);
          if (i === last) break;
          const x: Tensor = h;
          const next = tidy(() => this.#layer(i, x, t.mask));
          if (!kept.has(i)) x.dispose();
          h = next;
        }
      } catch (e) {
        h?.dispose();
        kept.forEach((k) => k.dispose());
        throw e;
      } finally {
        Object.values(t).forEach((x) => x.dispose());
      }
      return want.map((i) => kept.get(i)!);
    });
  }

  /** Masked-LM logits [..., vocab] (in the compute type) from a last hidden state. */
  mlmLogits(h: Tensor): Tensor {
    return noGrad(() =>
      mlmLogits(h, {
        denseWeight: this.#get("lm_head.dense.weight"),
        denseBias: this.#get("lm_head.dense.bias"),
        normWeight: this.#get("lm_head.layer_norm.weight"),
        normBias: this.#get("lm_head.layer_norm.bias"),
        decoder: this.#words,
        bias: this.#get("lm_head.bias"),
      }, this.dims.layerNormEps)
    );
  }

  /** Frees the weights this object owns (shared RobertaModel weights stay). */
  dispose(): void {
    this.#owned.forEach((t) => t.dispose());
  }
}
