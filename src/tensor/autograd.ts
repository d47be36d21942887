// Reverse-mode autograd on a tape: each op records a Node holding its inputs and a
// backward closure (written next to the op's forward). backward() walks the nodes in
// reverse topological order and accumulates gradients. It runs the backward closures with
// recording off, so they may call the kernels/ layer directly.
import { addRaw, ones } from "./kernels/elementwise.ts";
import { contiguousRaw } from "./kernels/shape.ts";
import { keep, tidy } from "./scope.ts";
import type { Tensor } from "./tensor.ts";

export interface Node {
  inputs: Tensor[];
  /** Gradients with respect to each input (null where none is needed). */
  backward: (grad: Tensor) => (Tensor | null)[];
}

let enabled = true;

/** Runs fn without recording (inference, the frozen encoder, optimizer updates). */
export function noGrad<T>(fn: () => T): T {
  const prev = enabled;
  enabled = false;
  try {
    return fn();
  } finally {
    enabled = prev;
  }
}

export function gradEnabled(): boolean {
  return enabled;
}

/** Runs fn with recording on (the recomputation inside a backward, which runs under noGrad). */
function withGrad<T>(fn: () => T): T {
  const prev = enabled;
  enabled = true;
  try {
    return fn();
  } finally {
    enabled = prev;
  }
}

/** Attaches a node to `out` when recording is on and any input needs a gradient. */
export function record(out: Tensor, inputs: Tensor[], backward: Node["backward"]): Tensor {
  if (enabled && inputs.some((t) => t.requiresGrad)) {
    out.requiresGrad = true;
    out.node = { inputs, backward };
  }
  return out;
}

/**
 * Backpropagates from `root` (a scalar unless `grad` is given). Leaf tensors with
 * requiresGrad get `.grad` set or accumulated; those gradients live outside any scope.
 */
export function backward(root: Tensor, grad?: Tensor): void {
  if (!root.requiresGrad) throw new Error("backward() on a tensor that does not require grad");
  if (!grad && root.size !== 1) throw new Error(`backward() needs a gradient for [${root.shape}]`);
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  const stack: [Tensor, boolean][] = [[root, false]];
  while (stack.length) {
    const [t, done] = stack.pop()!;
    if (done) {
      order.push(t);
      continue;
    }
    if (seen.has(t)) continue;
    seen.add(t);
    stack.push([t, true]);
    for (const i of t.node?.inputs ?? []) {
      if (i.requiresGrad && !seen.has(i)) stack.push([i, false]);
    }
  }
  noGrad(() => {
    const grads = new Map<Tensor, Tensor>([[root, grad ?? ones(root.shape, root.dtype)]]);
    for (let k = order.length - 1; k >= 0; k--) {
      const t = order[k];
      const g = grads.get(t);
      if (!g) continue;
      grads.delete(t);
      if (!t.node) {
        if (t.grad) {
          const sum = keep(addRaw(t.grad, g));
          t.grad.dispose();
          t.grad = sum;
        } else t.grad = keep(contiguousRaw(g));
      } else {
        const gi = t.node.backward(g);
        t.node.inputs.forEach((inp, j) => {
          const d = gi[j];
          if (!d || !inp.requiresGrad) return d?.dispose();
          const prev = grads.get(inp);
          if (prev) {
            grads.set(inp, addRaw(prev, d));
            prev.dispose();
            d.dispose();
          } else grads.set(inp, d);
        });
      }
      if (g !== grad) g.dispose();
    }
  });
}

export interface CheckpointOptions {
  /** The block's parameters: the node is recorded when one needs a gradient (inputs may not). */
  params?: readonly Tensor[];
  /** Counters of the dropout streams the block draws from, replayed by the recomputation. */
  rngs?: readonly { counter: number }[];
}

/**
 * Activation recomputation: runs fn(...inputs) without recording, so its activations are freed
 * as soon as it returns, and records one node on the output whose backward re-runs fn from
 * detached copies of the inputs with recording on, backpropagates through that graph (the
 * block's parameters accumulate `.grad` as leaves do) and returns the inputs' gradients. The
 * dropout counters are set back to their values at the forward for the recomputation, so it
 * replays the same masks (the streams then continue where they were): the output is
 * bit-identical, and gradients equal the recorded path's up to the order in which an input's
 * gradient parts are summed. fn must be a pure function of its inputs, parameters and streams.
 */
export function checkpoint(
  fn: (...xs: Tensor[]) => Tensor,
  inputs: Tensor[],
  opts: CheckpointOptions = {},
): Tensor {
  const needs = (t: Tensor) => t.requiresGrad;
  if (!enabled || !(inputs.some(needs) || opts.params?.some(needs))) return fn(...inputs);
  const rngs = opts.rngs ?? [], counters = rngs.map((r) => r.counter);
  const out = tidy(() => noGrad(() => fn(...inputs)));
  out.requiresGrad = true;
  out.node = {
    inputs,
    backward: (g) => {
      const resume = rngs.map((r) => r.counter);
      rngs.forEach((r, i) => (r.counter = counters[i]));
      try {
        return tidy(() => {
          const xs = inputs.map((x) => {
            const d = x.view(x.shape, x.strides, x.offset);
            d.requiresGrad = x.requiresGrad;
            return d;
          });
          const y = withGrad(() => fn(...xs));
          if (y.requiresGrad) backward(y, g);
          // The inputs' gradients are kept (leaf .grad); the caller disposes them.
          return xs.map((d) => {
            const dg = d.grad;
            d.grad = null;
            return dg;
          });
        });
      } finally {
        rngs.forEach((r, i) => (r.counter = resume[i]));
      }
    },
  };
  return out;
}
