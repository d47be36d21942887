// The trainable RoBERTa encoder (and optional masked-LM head), exactly as transformers'
// RobertaModel / RobertaForMaskedLM compute it: word + token-type-0 + position embeddings
// (positions from the padding, see roberta_inputs.ts), LayerNorm, dropout, then post-LN layers
// with exact GELU and an additive attention mask (-1e9 at padding rather than transformers'
// float32 minimum: both give padded keys a softmax weight of exactly 0, and outputs agree).
// Autograd reaches every weight; fine-tuning uses this path. A word table larger than one
// storage binding is kept in pieces of rows (nn/embedding.ts), yet folders hold it as the one HF
// tensor. The frozen encoder's forward-only path is frozen.ts.
import type { RobertaConfig } from "../formats/hf_config.ts";
import { loadIntoTensors, openModelFolder, writeModelFolder } from "../formats/hf_folder.ts";
import { Embeddings } from "../nn/embeddings.ts";
import { Rng, withoutInit } from "../nn/init.ts";
import { Module } from "../nn/module.ts";
import { Encoder } from "../nn/transformer.ts";
import { DropoutRng, type Tensor } from "../tensor/mod.ts";
import { MlmHead } from "./mlm_head.ts";
import { type RobertaDims, robertaDims } from "./roberta_config.ts";
import { type EncoderInput, inputTensors } from "./roberta_inputs.ts";

export interface RobertaOptions {
  /** Build the masked-LM head (`lm_head`). */
  lmHead?: boolean;
  /** Recompute each encoder layer's activations in backward (Encoder.setRecompute). */
  recompute?: boolean;
  /** Rows per piece of the word table (default: what one storage binding holds). */
  rowsPerPiece?: number;
}

/** The word table's name in model folders, whether or not it is kept in pieces. */
const WORDS = "embeddings.word_embeddings.weight";

/** The pieces' values one after another: the whole table, as folders store it. */
async function joined(pieces: readonly Tensor[]): Promise<ArrayBufferView> {
  if (pieces.length === 1) return await pieces[0].data();
  const parts = [];
  for (const t of pieces) parts.push(await t.data());
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

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
  static async load(dir: string, opts: RobertaOptions = {}): Promise<RobertaModel> {
    const { config, weights } = await openModelFolder(dir);
    try {
      const lmHead = opts.lmHead ?? weights.tensors.has("lm_head.dense.weight");
      // Every parameter is then loaded: resolveWeights refuses a folder that lacks any.
      const model = withoutInit(() => new RobertaModel(config, 0, { ...opts, lmHead }));
      try {
        await loadIntoTensors(weights, model.folderTensors());
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
    const entries = this.folderTensors().map(([name, pieces]) => {
      const stored = name.startsWith("lm_head.") ? name : prefix + name;
      const rows = pieces.reduce((n, t) => n + t.shape[0], 0);
      return {
        name: stored,
        dtype: "F32" as const,
        shape: [rows, ...pieces[0].shape.slice(1)],
        data: async () => {
          const d = await joined(pieces);
          onTensor?.(stored, d.byteLength);
          return d;
        },
      };
    });
    await writeModelFolder(dir, this.config, entries);
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

  /** hidden_states: [0] the embedding output, [k] layer k's output, each [batch, seq, hidden]. */
  forward(input: EncoderInput): Tensor[] {
    const { ids, positions, mask } = inputTensors(input, this.dims);
    const states = [this.embeddings.forward(ids, positions)];
    for (const layer of this.encoder.layers) states.push(layer.forward(states.at(-1)!, mask));
    return states;
  }

  /** Masked-LM logits [..., vocab] from a last hidden state. */
  mlmLogits(h: Tensor): Tensor {
    if (!this.lm_head) throw new Error("this RobertaModel was built without an lm_head");
    return this.lm_head.forward(h, this.embeddings.word_embeddings.pieces);
  }
}
