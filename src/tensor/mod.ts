// The tensor library's public face: Tensor, scopes, autograd and every op.
import { setGradOps } from "./autograd.ts";
import { add, ones } from "./ops/elementwise.ts";
import { contiguous } from "./ops/shape.ts";

export { liveTensors, setPoison, Tensor } from "./tensor.ts";
export type { DType } from "./tensor.ts";
export { keep, tidy } from "./scope.ts";
export { backward, checkpoint, gradEnabled, noGrad } from "./autograd.ts";
export type { CheckpointOptions } from "./autograd.ts";
export * from "./ops/elementwise.ts";
export * from "./ops/reduce.ts";
export * from "./ops/shape.ts";
export * from "./ops/matmul.ts";

setGradOps({ add, ones: (t) => ones(t.shape, t.dtype), contiguous });
export * from "./ops/softmax.ts";
export * from "./ops/layernorm.ts";
export * from "./ops/index.ts";
export * from "./ops/dropout.ts";
export * from "./ops/loss.ts";
export { setRowMode } from "./ops/rowwise.ts";
