// Shape and regularisation of a BERT/RoBERTa-style encoder layer (HF config fields).
export interface TransformerConfig {
  /** hidden_size */
  hidden: number;
  /** num_attention_heads; must divide hidden. */
  heads: number;
  /** intermediate_size (the feed-forward width). */
  intermediate: number;
  /** hidden_dropout_prob */
  hiddenDropout: number;
  /** attention_probs_dropout_prob */
  attentionDropout: number;
  /** layer_norm_eps (1e-12 for BERT, 1e-5 for RoBERTa). */
  layerNormEps: number;
  /** initializer_range: std of the normal init of weights. */
  initRange: number;
}
