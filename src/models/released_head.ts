// The pretraining head in a released K-Adapter checkpoint (fac-adapter.py, lin-adapter.py
// AdapterModel): com_dense, dense, out_proj, and lin's self_attention (pytorch_transformers'
// BertAttention: self.query/key/value, output.dense, output.LayerNorm), the names FacHead and
// LinHead keep. Sizes come from the tensors; the rest as the released code set it: fac's
// dropout is config.json's hidden_dropout_prob; lin's attention is the code's attentionConfig
// (1 head, layer_norm_eps 1e-5, dropout 0.1, which is also roberta's hidden_dropout_prob).
import { ModelFolderError, type RobertaConfig } from "../formats/hf_config.ts";
import { type FolderWeights, loadIntoTensors } from "../formats/hf_folder.ts";
import { FacHead, type HeadConfig, LinHead } from "./kadapter_heads.ts";
import { TREX_RELATIONS } from "./trex_relations.ts";

/** lin-adapter.py's attentionConfig.layer_norm_eps. */
const LIN_ATTENTION_EPS = 1e-5;
const HEAD_PREFIXES = ["com_dense.", "dense.", "out_proj.", "self_attention."];

/** The same fields as adapter_folder.ts's HeadMeta (not imported: no import cycle). */
export interface ReleasedHeadMeta {
  task: "fac" | "lin";
  config: HeadConfig;
  /** fac: TREX_RELATIONS when out_proj has that many rows; otherwise null (unknown). */
  labels: string[] | null;
  /** lin: out_proj's rows (the released max_seq_length). */
  maxLength: number | null;
  loss: "ce";
}

export interface ReleasedHead {
  module: FacHead | LinHead;
  meta: ReleasedHeadMeta;
}

/** Whether the file holds any head tensor (a folder without one is an adapter only). */
export function hasReleasedHead(w: FolderWeights): boolean {
  return [...w.tensors.keys()].some((n) => HEAD_PREFIXES.some((p) => n.startsWith(p)));
}

/**
 * Builds the head from the file's tensors (eval mode). Throws ModelFolderError naming every
 * head tensor that is missing or misshapen (loadIntoTensors) before loading any.
 */
export async function loadReleasedHead(
  dir: string,
  w: FolderWeights,
  c: RobertaConfig,
  task: "fac" | "lin",
): Promise<ReleasedHead> {
  const out = w.tensors.get("out_proj.weight");
  const shape = out?.info.shape;
  if (!shape || shape.length !== 2 || shape[0] < 1) {
    throw new ModelFolderError(dir, [
      out
        ? `head tensor out_proj.weight has shape [${shape}]; expected [labels, ${c.hidden_size}]`
        : `head tensor out_proj.weight is missing (the file holds other ${task} head tensors)`,
    ]);
  }
  const rows = shape[0];
  const config: HeadConfig = {
    hidden: c.hidden_size,
    labels: rows,
    dropout: c.hidden_dropout_prob,
    layerNormEps: task === "lin" ? LIN_ATTENTION_EPS : c.layer_norm_eps,
  };
  const module = task === "lin" ? new LinHead(config, 0) : new FacHead(config, 0);
  module.eval();
  try {
    // Checks every head tensor (present, float, shape) and names each problem before loading.
    await loadIntoTensors(w, module.namedParameters());
  } catch (e) {
    module.dispose();
    throw e;
  }
  const labels = task === "fac" && rows === TREX_RELATIONS.length ? [...TREX_RELATIONS] : null;
  return {
    module,
    meta: { task, config, labels, maxLength: task === "lin" ? rows : null, loss: "ce" },
  };
}
