// The trainable RoBERTa encoder (and optional masked-LM head), exactly as transformers'
// RobertaModel / RobertaForMaskedLM compute it: word + token-type-0 + position embeddings
// (positions from the padding, see roberta_inputs.ts), LayerNorm, dropout, then post-LN layers
// with exact GELU and an additive attention mask (-1e9 at padding rather than transformers'
// float32 minimum: both give padded keys a softmax weight of exactly 0, and outputs agree).
// Autograd reaches every weight through forward(); fine-tuning uses it. hiddenStates() is the
// forward-only path over the same modules (the frozen encoder: roberta_frozen.ts), which also
// runs a model loaded or cast with f16 weights (LayerNorm parameters stay f32). A word table
// larger than one storage binding is kept in pieces of rows (nn/embedding.ts), yet folders hold
// it as the one HF tensor.
import { gpu, GpuError } from "../gpu/device.ts";
import type { RobertaConfig } from "../formats/hf_config.ts";
import { loadIntoTensors, openModelFolder, writeModelFolder } from "../formats/hf_folder.ts";
import { stateEntries } from "../formats/state.ts";
import { bindingRows } from "../nn/embedding.ts";
import { Embeddings } from "../nn/embeddings.ts";
import { Rng, withoutInit } from "../nn/init.ts";
import { Module } from "../nn/module.ts";
import { Encoder } from "../nn/transformer.ts";
import { cast, copyInto, DropoutRng, noGrad, type Tensor, tidy } from "../tensor/mod.ts";
import { MlmHead } from "./mlm_head.ts";
import { type RobertaDims, robertaDims } from "./roberta_config.ts";
import { type EncoderInput, inputTensors } from "./roberta_inputs.ts";

/** The type of a model's weights and activations (LayerNorm parameters are f32 in both). */
export type ComputeType = "f32" | "f16";

/** f16 when asked for, after checking that the adapter computes in it. */
export function computeType(f16: boolean | undefined): ComputeType {
  if (f16 && !gpu().hasF16) {
    throw new GpuError("f16 compute needs shader-f16, which this GPU adapter does not offer");
  }
  return f16 ? "f16" : "f32";
}

export interface RobertaOptions {
  /** Build the masked-LM head (`lm_head`). */
  lmHead?: boolean;
  /** Recompute each encoder layer's activations in backward (Encoder.setRecompute). */
  recompute?: boolean;
  /** Rows per piece of the word table (default: what one storage binding holds). */
  rowsPerPiece?: number;
}

export interface LoadOptions extends RobertaOptions {
  /** Load the weights as f16 (needs shader-f16), for hiddenStates() only. */
  f16?: boolean;
  /** Load NaN/Inf weights with a warning instead of refusing them (--allow-nonfinite). */
  allowNonFinite?: boolean;
}

/** The word table's name in model folders, whether or not it is kept in pieces. */
const WORDS = "embeddings.word_embeddings.weight";

export class RobertaModel extends Module {
  readonly dims: RobertaDims;
  readonly embeddings: Embeddings;
  readonly encoder: Encoder;
  readonly lm_head: MlmHead | null;
  /** The stream every dropout mask of this model comes from. */
  readonly dropoutRng: DropoutRng;

  /**
   * Seeded random weights as transformers initialises them: normal(0, initializer_range)
   * weights and embeddings (padding rows zero), zero biases, LayerNorm 1 and 0.
   */
  constructor(readonly config: RobertaConfig, seed: number, opts: RobertaOptions = {}) {
    super();
    const d = this.dims = robertaDims(config);
    const rng = new Rng(seed);
    this.dropoutRng = new DropoutRng(rng.fork());
    const drop = this.dropoutRng;
    this.embeddings = this.child(
      "embeddings",
      new Embeddings(d, d.vocab, d.maxPositions, rng, drop, d.typeVocab, opts.rowsPerPiece),
    );
    this.embeddings.word_embeddings.zeroRow(d.padId);
    this.embeddings.position_embeddings.zeroRow(d.padId);
    this.encoder = this.child("encoder", new Encoder(d, d.layers, rng, drop));
    this.encoder.setRecompute(opts.recompute ?? false);
    this.lm_head = opts.lmHead
      ? this.child("lm_head", new MlmHead(d.hidden, d.vocab, d.layerNormEps, rng, d.initRange))
      : null;
  }

  /**
   * Loads a model folder (in eval mode, as transformers' from_pretrained). The head is loaded
   * when `lmHead` is true (an error if the folder lacks it) or, by default, when present.
   */
  static async load(dir: string, opts: LoadOptions = {}): Promise<RobertaModel> {
    const dtype = computeType(opts.f16);
    const { config, weights } = await openModelFolder(dir);
    try {
      const lmHead = opts.lmHead ?? weights.tensors.has("lm_head.dense.weight");
      const rowsPerPiece = opts.rowsPerPiece ??
        (dtype === "f16" ? bindingRows(config.hidden_size, 2) : undefined);
      // Every parameter is then loaded: resolveWeights refuses a folder that lacks any.
      const model = withoutInit(
        () => new RobertaModel(config, 0, { ...opts, lmHead, rowsPerPiece }),
        dtype,
      );
      try {
        await loadIntoTensors(weights, model.folderTensors(), {
          allowNonFinite: opts.allowNonFinite,
        });
      } catch (e) {
        model.dispose();
        throw e;
      }
      return model.eval();
    } finally {
      weights.close();
    }
  }

  /**
   * Writes config.json and model.safetensors as transformers saves this class: with an
   * lm_head, the encoder under "roberta." and no lm_head.decoder (tied). `onTensor` reports
   * each tensor's bytes as it is written.
   */
  async save(dir: string, onTensor?: (name: string, bytes: number) => void): Promise<void> {
    const prefix = this.lm_head ? "roberta." : "";
    const stored = this.folderTensors().map(([name, pieces]) =>
      [name.startsWith("lm_head.") ? name : prefix + name, pieces] as const
    );
    await writeModelFolder(dir, this.config, stateEntries(stored, onTensor));
  }

  /**
   * Parameters by folder (HF) name, each as its row pieces: the word table's pieces under its
   * one name, every other parameter alone.
   */
  folderTensors(): [string, Tensor[]][] {
    const words = this.embeddings.word_embeddings.pieces;
    const out: [string, Tensor[]][] = [];
    for (const [name, t] of this.namedParameters()) {
      if (t === words[0]) out.push([WORDS, [...words]]);
      else if (!words.includes(t)) out.push([name, [t]]);
    }
    return out;
  }

  /** The weights' type (the word table's; LayerNorm parameters are f32 either way). */
  get dtype(): ComputeType {
    return this.embeddings.word_embeddings.pieces[0].dtype as ComputeType;
  }

  /**
   * An eval-mode copy with this model's current weights cast once to f16 (LayerNorm
   * parameters copied in f32), the word table in the same pieces.
   */
  castToF16(): RobertaModel {
    computeType(true); // refuses an adapter without shader-f16
    const rowsPerPiece = this.embeddings.word_embeddings.pieces[0].shape[0];
    const copy = withoutInit(
      () => new RobertaModel(this.config, 0, { lmHead: this.lm_head !== null, rowsPerPiece }),
      "f16",
    ).eval();
    // Both trees come from one constructor: their parameters pair up in order.
    const from = this.parameters();
    noGrad(() =>
      copy.parameters().forEach((t, i) =>
        tidy(() => copyInto(t, from[i].dtype === t.dtype ? from[i] : cast(from[i], t.dtype)))
      )
    );
    return copy;
  }

  /** hidden_states: [0] the embedding output, [k] layer k's output, each [batch, seq, hidden]. */
  forward(input: EncoderInput): Tensor[] {
    const { ids, positions, mask } = inputTensors(input, this.dims);
    const states = [this.embeddings.forward(ids, positions)];
    for (const layer of this.encoder.layers) states.push(layer.forward(states.at(-1)!, mask));
    return states;
  }

  /**
   * The forward-only path (no tape, no dropout: the model is in eval mode meanwhile): the
   * hidden states listed in `keep` (0 = embedding output, k = layer k's output), in that order,
   * in the model's dtype; layers past the last one asked for are not run. The rest is freed as
   * it goes: the GPU holds at most the kept states plus one layer's activations.
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
    if (this.training) {
      this.eval();
      try {
        return this.hiddenStates(input, opts);
      } finally {
        this.train(true);
      }
    }
    const last = Math.max(...want);
    return noGrad(() => {
      const t = inputTensors(input, this.dims);
      const kept = new Map<number, Tensor>();
      let h: Tensor | null = null;
      try {
        h = tidy(() => this.embeddings.forward(t.ids, t.positions));
        for (let i = 0;; i++) {
          if (want.includes(i)) kept.set(i, h);
          if (i === last) break;
          const x: Tensor = h;
          const next = tidy(() => this.encoder.layers[i].forward(x, t.mask));
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

  /** Masked-LM logits [..., vocab] from a last hidden state. */
  mlmLogits(h: Tensor): Tensor {
    if (!this.lm_head) {
      throw new Error(
        "this RobertaModel has no lm_head (built without one, or its folder had no " +
          "lm_head.dense.weight)",
      );
    }
    return this.lm_head.forward(h, this.embeddings.word_embeddings.pieces);
  }
}
