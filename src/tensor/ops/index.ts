// Selecting rows by integer ids: embedding lookup, gathering marker positions.
// The backward pass adds repeated ids together without float atomics (see
// shaders/index_scatter.wgsl); it plans on the CPU from the ids' host copy.
import { elementKernel } from "../../gpu/kernel.ts";
import { dispatch } from "../../gpu/queue.ts";
import { record } from "../autograd.ts";
import { numel, Tensor } from "../tensor.ts";
import { zeros } from "../kernels/elementwise.ts";
import { contiguous } from "./shape.ts";
import selectSrc from "../../../shaders/index_select.wgsl" with { type: "text" };
import scatterSrc from "../../../shaders/index_scatter.wgsl" with { type: "text" };

/** Positions of one id summed per dispatch (see shaders/index_scatter.wgsl). */
const RUN_SPAN = 16384;

function hostIds(ids: Tensor): Int32Array {
  const h = ids.storage.host;
  if (!h) {
    throw new Error(
      "index ids must be uploaded from the CPU (Tensor.from(..., 'i32')) so that the " +
        "gradient can be planned without a GPU readback",
    );
  }
  return h.subarray(ids.offset, ids.offset + ids.size);
}

/** Positions grouped by id: the distinct ids, run starts, and positions in id order. */
export function scatterPlan(ids: Int32Array) {
  const order = Int32Array.from(ids.keys()).sort((a, b) => ids[a] - ids[b] || a - b);
  const uniq: number[] = [], starts: number[] = [];
  order.forEach((p, k) => {
    if (k === 0 || ids[p] !== ids[order[k - 1]]) {
      uniq.push(ids[p]);
      starts.push(k);
    }
  });
  starts.push(order.length);
  return { uniq: Int32Array.from(uniq), starts: Int32Array.from(starts), order };
}

/** x indexed along `axis` by the i32 tensor `ids`; the ids' shape replaces that axis. */
export function indexSelect(x: Tensor, axis: number, ids: Tensor): Tensor {
  if (ids.dtype !== "i32") throw new Error(`index ids must be i32, got ${ids.dtype}`);
  const a = axis < 0 ? axis + x.rank : axis;
  const rows = x.shape[a];
  const host = hostIds(ids);
  for (const v of host) {
    if (v < 0 || v >= rows) {
      throw new Error(`index ${v} out of range for axis ${a} of size ${rows} ([${x.shape}])`);
    }
  }
  const outer = numel(x.shape.slice(0, a)), inner = numel(x.shape.slice(a + 1));
  const xc = contiguous(x);
  const shape = [...x.shape.slice(0, a), ...ids.shape, ...x.shape.slice(a + 1)];
  const out = Tensor.empty(shape, x.dtype, "index select");
  const idc = contiguous(ids);
  dispatch(
    elementKernel("index_select", selectSrc, { T: x.dtype }),
    [
      { buffer: xc.buffer, what: "table" },
      { buffer: idc.buffer, what: "ids" },
      { buffer: out.buffer, what: "output" },
    ],
    [out.size, ids.size, rows, inner, xc.offset, idc.offset],
    Math.ceil(out.size / 256),
  );
  xc.dispose();
  idc.dispose();
  return record(out, [x], (g) => {
    const plan = scatterPlan(host);
    const gc = contiguous(g);
    const dx = zeros(x.shape, g.dtype);
    const u = Tensor.from(plan.uniq, [plan.uniq.length], "i32");
    const s = Tensor.from(plan.starts, [plan.starts.length], "i32");
    const o = Tensor.from(plan.order, [plan.order.length], "i32");
    const total = outer * plan.uniq.length * inner;
    // A loop, not Math.max(...runs): spreading 120k+ distinct ids overflows the stack.
    let longest = 0;
    for (let r = 1; r < plan.starts.length; r++) {
      longest = Math.max(longest, plan.starts[r] - plan.starts[r - 1]);
    }
    const k = elementKernel("index_scatter", scatterSrc, { T: g.dtype });
    for (let round = 0; round < longest; round += RUN_SPAN) {
      dispatch(
        k,
        [
          { buffer: gc.buffer, what: "gradient" },
          { buffer: u.buffer, what: "distinct ids" },
          { buffer: s.buffer, what: "run starts" },
          { buffer: o.buffer, what: "positions" },
          { buffer: dx.buffer, what: "table gradient" },
        ],
        [total, plan.uniq.length, ids.size, rows, inner, gc.offset, round, RUN_SPAN],
        Math.ceil(total / 256),
      );
    }
    for (const t of [gc, u, s, o]) t.dispose();
    return [dx];
  });
}

/** Embedding lookup: rows of `table` [vocab, dim] for integer ids of any shape. */
export function embedding(table: Tensor, ids: Tensor): Tensor {
  return indexSelect(table, 0, ids);
}
