// The torch suite: kadapter side by side with PyTorch (tools/reference/bench_torch.py, CPU by
// default) on the same workloads with random weights: a fac training step at the demo's tiny
// shapes and at roberta-base's, the row-wise ops and an add at [4096, 1024], a 4096x1024x1024
// matmul, and copy bandwidth. Each case warms up on both sides, then alternates one timed run
// of each (kadapter, torch, kadapter, ...) so machine noise hits both; the best of each is kept.
import { adapterConfig, newAdapterShape } from "../src/models/adapter_config.ts";
import { parseConfig } from "../src/formats/hf_config.ts";
import { type RobertaDims, robertaDims } from "../src/models/roberta_config.ts";
import { FrozenRoberta } from "../src/models/roberta_frozen.ts";
import { Tensor } from "../src/tensor/mod.ts";
import { facStepper, type FacStepSpec } from "./fac_step.ts";
import { facDims, facEncoderModel, facSpec } from "./infusion.ts";
import { ours } from "./matmul.ts";
import { deviceCopy, hostCopy } from "./memcpy.ts";
import { opCases } from "./ops.ts";
import { fmt, randomData, type Run, table } from "./timing.ts";
import { TorchPeer } from "./torch_peer.ts";

export interface TorchOptions {
  quick: boolean;
  python: string;
  threads: number;
  device: "cpu" | "cuda";
}

/** One prepared kadapter workload: time() runs it once and returns its ms. */
interface Timer {
  time(): Promise<number>;
  dispose(): void;
}

interface Case {
  name: string;
  shape: string;
  unit: "examples/s" | "GB/s" | "GFLOP/s";
  /** Examples, or 1e9 bytes / flop, per run. */
  work: number;
  /** A memory-bound op: printed as a share of the machine's copy bandwidth. */
  rowOp: boolean;
  /** The side whose figure is a host memcpy (the machine's copy bandwidth). */
  hostCopy?: "ours" | "torch";
  ours: (() => Promise<Timer>) | null;
  torch: Record<string, unknown> | null;
}

const ENCODER = new URL("../data/world/encoder", import.meta.url).pathname;
/** The demo's relations (data/world/relations.jsonl): the fac head's outputs. */
const DEMO_LABELS = 12;
const MiB64 = 64 * 2 ** 20;
const ROWS = 4096, COLS = 1024;

function timerOf(r: Run): Timer {
  return {
    async time() {
      const t0 = performance.now();
      await r.run();
      return performance.now() - t0;
    },
    dispose: () => r.dispose(),
  };
}

/** The demo's batch: 32 rows of 12 to 29 tokens (seeded), the longest first. */
function demoLengths(): number[] {
  let s = 12345;
  const next = () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  return Array.from({ length: 32 }, (_, i) => i === 0 ? 29 : 12 + Math.floor(next() * 18));
}

/** The torch side of a fac step: the same encoder, adapter, head and batch layout. */
function facTorchCase(d: RobertaDims, s: FacStepSpec): Record<string, unknown> {
  const a = s.adapter;
  return {
    kind: "fac",
    hidden: d.hidden,
    layers: d.layers,
    heads: d.heads,
    ffn: d.intermediate,
    vocab: d.vocab,
    maxPositions: d.maxPositions,
    adapter: {
      size: a.adapterHidden,
      heads: a.heads,
      ffn: a.intermediate,
      layers: a.layers,
      list: a.adapterList,
      mask: a.mask,
    },
    labels: s.labels,
    batch: s.lengths.length,
    seq: Math.max(...s.lengths),
    lengths: s.lengths,
    subj: s.subj,
    obj: s.obj,
  };
}

/** A fac step on `encoder`, timed whole as the training loop runs it; free() frees it. */
function facTimer(encoder: FrozenRoberta, spec: FacStepSpec, free: () => void): Timer {
  const stepper = facStepper(encoder, spec);
  return {
    async time() {
      const r = await stepper.step();
      return r.frozenMs + r.restMs;
    },
    dispose() {
      stepper.dispose();
      free();
    },
  };
}

/** The demo's `train fac` step on the bundled encoder (ADAPTER in src/demo/plan.ts). */
async function demoFac(): Promise<{ timer: () => Promise<Timer>; torch: Record<string, unknown> }> {
  const lengths = demoLengths();
  const config = JSON.parse(await Deno.readTextFile(`${ENCODER}/config.json`));
  const d = robertaDims(parseConfig(config, ENCODER));
  const spec: FacStepSpec = {
    adapter: adapterConfig(
      d.hidden,
      d.layers,
      newAdapterShape(d.hidden, {
        adapterHidden: 64,
        heads: 4,
        intermediate: 128,
        layers: 1,
        mask: "padding",
      }),
    ),
    labels: DEMO_LABELS,
    lengths,
    subj: lengths.map(() => 1),
    obj: lengths.map((n) => Math.min(5, n - 1)),
    padTo: Math.max(...lengths),
    split: false,
  };
  return {
    timer: async () => {
      const encoder = await FrozenRoberta.fromFolder(ENCODER, { lmHead: false });
      return facTimer(encoder, spec, () => encoder.dispose());
    },
    torch: facTorchCase(d, spec),
  };
}

/** bench/infusion.ts's --quick case: roberta-base, the released adapter, 8 x 64. */
function baseFac(): { timer: () => Promise<Timer>; torch: Record<string, unknown> } {
  const spec = { ...facSpec(facDims("base"), 8, 64), split: false };
  return {
    timer: () => {
      const model = facEncoderModel("base");
      return Promise.resolve(facTimer(FrozenRoberta.fromModel(model), spec, () => model.dispose()));
    },
    torch: facTorchCase(facDims("base"), spec),
  };
}

async function cases(): Promise<Case[]> {
  const demo = await demoFac();
  const out: Case[] = [{
    name: "fac step, demo (64 wide, 2 layers; adapter 64/4/128 x1 at 0)",
    shape: "32 x 29, padded",
    unit: "examples/s",
    work: 32,
    rowOp: false,
    ours: demo.timer,
    torch: demo.torch,
  }];
  for (const op of opCases(ROWS, COLS)) {
    out.push({
      name: op.name,
      shape: `[${ROWS}, ${COLS}] f32`,
      unit: "GB/s",
      work: op.bytes / 1e9,
      rowOp: true,
      ours: () => {
        const x = Tensor.from(randomData(ROWS * COLS), [ROWS, COLS]), r = op.prepare(x);
        return Promise.resolve(timerOf({
          run: r.run,
          dispose: () => {
            r.dispose();
            x.dispose();
          },
        }));
      },
      torch: { kind: op.name.toLowerCase(), rows: ROWS, cols: COLS },
    });
  }
  const mm = { m: 4096, k: 1024, n: 1024, linear: false };
  out.push({
    name: "matmul",
    shape: "[4096x1024] @ [1024x1024] f32",
    unit: "GFLOP/s",
    work: (2 * mm.m * mm.k * mm.n) / 1e9,
    rowOp: false,
    ours: () =>
      Promise.resolve(
        timerOf(ours(mm, { a: randomData(mm.m * mm.k), b: randomData(mm.k * mm.n) })),
      ),
    torch: { kind: "matmul", m: mm.m, k: mm.k, n: mm.n },
  }, {
    name: "copy: WebGPU copyBufferToBuffer / torch copy_",
    shape: "64 MiB",
    unit: "GB/s",
    work: (2 * MiB64) / 1e9,
    rowOp: false,
    ours: () => Promise.resolve(timerOf(deviceCopy(MiB64))),
    torch: { kind: "memcpy", bytes: MiB64 },
    hostCopy: "torch",
  }, {
    name: "copy: Deno Uint8Array.set (host memcpy)",
    shape: "64 MiB",
    unit: "GB/s",
    work: (2 * MiB64) / 1e9,
    rowOp: false,
    ours: () => Promise.resolve(timerOf(hostCopy(MiB64))),
    torch: null,
    hostCopy: "ours",
  });
  // The longest last: a time limit (tools/gpu_check.sh) then loses only it.
  const base = baseFac();
  out.push({
    name: "fac step, roberta-base (adapter 768/12/3072 x2 at 0,5,10)",
    shape: "8 x 64",
    unit: "examples/s",
    work: 8,
    rowOp: false,
    ours: base.timer,
    torch: base.torch,
  });
  return out;
}

interface Measured {
  c: Case;
  ours: number | null;
  torch: number | null;
}

const why = (e: unknown) => e instanceof Error ? e.message : String(e);

/** Both sides warm up, then alternate timed runs within the budget; the best ms of each. */
async function measure(c: Case, peer: TorchPeer | null, o: TorchOptions): Promise<Measured> {
  let timer: Timer | null = null, id: number | null = null;
  let warm = 0;
  const best = { ours: Infinity, torch: Infinity };
  try {
    if (c.ours) {
      try {
        timer = await c.ours();
        warm += await timer.time();
      } catch (e) {
        console.error(`  kadapter: failed (${why(e)})`);
        timer?.dispose();
        timer = null;
      }
    }
    if (peer && c.torch) {
      try {
        const p = await peer.prepare(c.torch);
        id = p.id;
        warm += p.warmMs;
      } catch (e) {
        console.error(`  torch: failed (${why(e)})`);
      }
    }
    const [budget, most] = o.quick ? [8000, 3] : [20000, 8];
    const rounds = Math.max(1, Math.min(most, Math.floor(budget / Math.max(warm, 1e-3))));
    for (let i = 0; i < rounds; i++) {
      if (timer) best.ours = Math.min(best.ours, await timer.time());
      if (id !== null) best.torch = Math.min(best.torch, await peer!.time(id));
    }
    console.error(
      `  ${rounds} round(s): kadapter ${fmt(timer ? best.ours : null)} ms, ` +
        `torch ${fmt(id !== null ? best.torch : null)} ms`,
    );
  } catch (e) {
    console.error(`  failed (${why(e)}); the runs before it count`);
  } finally {
    timer?.dispose();
    if (id !== null) await peer!.drop(id).catch(() => {});
  }
  const ok = (ms: number) => Number.isFinite(ms) ? ms : null;
  return { c, ours: ok(best.ours), torch: ok(best.torch) };
}

export async function torchSuite(o: TorchOptions): Promise<void> {
  const t0 = performance.now();
  const started = await TorchPeer.start(o.python, o.threads, o.device);
  const peer = typeof started === "string" ? null : started;
  if (typeof started === "string") {
    console.error(`torch: ${started}; kadapter's figures alone`);
  }
  const results: Measured[] = [];
  try {
    for (const c of await cases()) {
      console.error(`torch suite: ${c.name} ${c.shape}`);
      results.push(await measure(c, peer, o));
    }
  } finally {
    await peer?.close();
  }
  const rate = (r: Measured, ms: number | null) => ms === null ? null : (r.c.work * 1000) / ms;
  // The machine's copy bandwidth: the faster host copy (Deno's set or torch's copy_).
  const host = results.map((r) =>
    r.c.hostCopy ? rate(r, r.c.hostCopy === "ours" ? r.ours : r.torch) : null
  ).filter((x): x is number => x !== null);
  const memcpy = host.length ? Math.max(...host) : null;
  const share = (r: Measured, v: number | null) =>
    r.c.rowOp && v !== null && memcpy ? `${fmt((100 * v) / memcpy, 0)}%` : "";
  const rows = results.map((r) => {
    const k = rate(r, r.ours), t = rate(r, r.torch);
    return [
      r.c.name,
      r.c.shape,
      r.c.unit,
      fmt(k),
      fmt(t),
      k !== null && t !== null ? `${(k / t).toFixed(2)}x` : "n/a",
      fmt(r.ours),
      fmt(r.torch),
      share(r, k),
      share(r, t),
    ];
  });
  console.log(
    `\nkadapter against PyTorch (${peer ? peer.describe() : "not run: " + started}), ` +
      "random weights, best run after one warm-up, the two alternating. fac step = frozen " +
      "forward (no grad), adapter + fac head + cross-entropy, backward, clipping at 1, AdamW " +
      "(dropout 0.1 in adapter and head). GB/s counts one read of each operand and one write " +
      "of the output (copy: 64 MiB read + 64 MiB written); % of memcpy is against the faster " +
      `host copy (${fmt(memcpy)} GB/s). kadapter/torch > 1: kadapter faster. kadapter runs on ` +
      "the WebGPU adapter above (llvmpipe: every core, or LP_NUM_THREADS)\n",
  );
  console.log(table([
    "workload",
    "shape",
    "unit",
    "kadapter",
    "torch",
    "kadapter/torch",
    "kadapter ms",
    "torch ms",
    "kadapter % of memcpy",
    "torch % of memcpy",
  ], rows));
  console.log(`\ntorch suite: ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}
