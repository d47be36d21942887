// The tensor library's public face: Tensor, scopes, autograd and every op.
export { liveTensors, setPoison, Tensor } from "./tensor.ts";
export type { DType } from "./tensor.ts";
export { keep, tidy } from "./scope.ts";
export { backward, checkpoint, gradEnabled, noGrad } from "./autograd.ts";
export type { CheckpointOptions } from "./autograd.ts";
// Kernel launches that record no gradient.
export { broadcastShapes, full, mapRaw, ones, zeros } from "./kernels/elementwise.ts";
export { nonFiniteCount, sumOfSquares, sumTo } from "./kernels/reduce.ts";
export { copyInto, pad6 } from "./kernels/shape.ts";
export { matmulRaw } from "./kernels/matmul.ts";
export {
  type MatmulVariant,
  matmulVariant,
  setMatmulVariant,
  VARIANTS,
} from "./kernels/matmul_variants.ts";
export { matmulPlan, setSplitK } from "./kernels/matmul_variants.ts";
export { setRowMode } from "./kernels/rowwise.ts";
export { setRowVariant } from "./kernels/rowwise.ts";
export { setElementVariant } from "./kernels/elementwise.ts";
export { adamwUpdate } from "./kernels/adamw.ts";
export { type AdamWItem, adamwUpdateAll } from "./kernels/adamw.ts";
export { setMultiTensor } from "./kernels/multi_tensor.ts";
// Differentiable ops.
export * from "./ops/elementwise.ts";
export * from "./ops/reduce.ts";
export * from "./ops/shape.ts";
export * from "./ops/matmul.ts";
export * from "./ops/softmax.ts";
export * from "./ops/layernorm.ts";
export * from "./ops/residual_norm.ts";
export * from "./ops/index.ts";
export * from "./ops/dropout.ts";
export * from "./ops/loss.ts";
export * from "./ops/attention.ts";
