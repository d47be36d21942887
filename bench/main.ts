// `deno task bench [--quick] [--no-peers] [--fac-batch N] [suite ...]`: matmul GFLOP/s of
// kadapter against TensorFlow.js (WebGPU backend) and jax-js (webgpu device) on the same
// adapter, f16 matmul, the row-wise ops, the frozen encoder's forward, and a fac training
// step, and a full fine-tuning step (encoder + frozen adapters + head). Suites: matmul, ops,
// encoder, fac, finetune, ceiling (default: all), and torch (only when named: kadapter against PyTorch,
// bench/torch.ts; --torch-python PATH (default /usr/bin/python3), --torch-threads N (default
// 1), --torch-device cpu|cuda). `--no-baseline` skips the fine-tuning suite's plain RoBERTa
// rows. Progress goes to stderr, the Markdown tables to stdout.
import { cpus } from "node:os";
import { parseArgs } from "node:util";
import { fmtBytes, gpu, initGpu } from "../src/gpu/device.ts";
import { PRESETS } from "../src/models/roberta_config.ts";
import { Tensor } from "../src/tensor/mod.ts";
import { flopsOf, matmulCases, type Operands, ours, shapeOf, variantOf } from "./matmul.ts";
import {
  finetuneCases,
  finetuneModelName,
  finetuneRoberta,
  finetuneStep,
  finetuneTaskName,
} from "./finetune.ts";
import { facCases, facEncoderModel, facModelName, facStep } from "./infusion.ts";
import { BENCH_LAYERS, benchModel, encoderRun, modelCases } from "./model.ts";
import { opCases } from "./ops.ts";
import { jaxjs, type Peer, tfjs } from "./peers.ts";
import { fmt, gflops, randomData, ratio, table, tryBestMs } from "./timing.ts";
import { torchSuite } from "./torch.ts";
import { ceilingSuite } from "./ceiling.ts";

const { values: flags, positionals } = parseArgs({
  options: {
    quick: { type: "boolean" },
    "no-peers": { type: "boolean" },
    "fac-batch": { type: "string" },
    "no-baseline": { type: "boolean" },
    "torch-python": { type: "string" },
    "torch-threads": { type: "string" },
    "torch-device": { type: "string" },
  },
  allowPositionals: true,
});
const SUITES = ["ceiling", "matmul", "ops", "encoder", "fac", "finetune", "torch"];
for (const s of positionals) {
  if (!SUITES.includes(s)) throw new Error(`unknown suite ${s}; the suites are ${SUITES}`);
}
const suite = (name: string) =>
  (positionals.length === 0 && name !== "torch") || positionals.includes(name);
const torchThreads = Number(flags["torch-threads"] ?? 1);
if (!(Number.isInteger(torchThreads) && torchThreads > 0)) {
  throw new Error(`--torch-threads ${torchThreads}`);
}
const torchDevice = flags["torch-device"] ?? "cpu";
if (torchDevice !== "cpu" && torchDevice !== "cuda") {
  throw new Error(`--torch-device ${torchDevice}: cpu or cuda`);
}
const facBatch = Number(flags["fac-batch"] ?? 64);
if (!(Number.isInteger(facBatch) && facBatch > 0)) throw new Error(`--fac-batch ${facBatch}`);
// --quick (or KADAPTER_BENCH_QUICK=1) keeps the 1024^3 products and skips the 4096-token ones.
const quick = flags.quick || Deno.env.get("KADAPTER_BENCH_QUICK") === "1";

function cpuModel(): string {
  try {
    const c = cpus();
    return `${c[0]?.model ?? "unknown CPU"}, ${c.length} threads`;
  } catch {
    return `${Deno.build.arch}, ${navigator.hardwareConcurrency} threads`;
  }
}

const g = await initGpu();
const info = g.adapterInfo;
console.log(`date: ${new Date().toISOString().slice(0, 10)}`);
console.log(`deno ${Deno.version.deno}, ${cpuModel()}`);
console.log(
  `adapter: ${info.description || info.device || info.vendor}, ` +
    `backend ${g.backend}, shader-f16 ${g.hasF16 ? "yes" : "no"}, ` +
    `software ${g.isSoftware ? "yes" : "no"}`,
);

const peers: Peer[] = [];
if (!flags["no-peers"] && suite("matmul")) {
  for (const start of [tfjs, jaxjs]) {
    const p = await start();
    if (p) peers.push(p);
    else console.error(`${start.name}: no WebGPU device, skipped`);
  }
}

// ---- matmul, f32: ours against the peers ------------------------------------------------
const cases = suite("matmul") ? matmulCases(quick) : [];
const mmRows: string[][] = [];
const f16Rows: string[][] = [];
for (const c of cases) {
  const d: Operands = { a: randomData(c.m * c.k), b: randomData(c.k * c.n) };
  const flop = flopsOf(c);
  console.error(`matmul ${shapeOf(c)} (${(flop / 1e9).toFixed(1)} GFLOP)`);
  const mine = gflops(flop, await tryBestMs("kadapter", () => ours(c, d)));
  const theirs = [];
  for (const p of peers) {
    theirs.push(gflops(flop, await tryBestMs(p.name, () => p.prepare(c, d))));
  }
  mmRows.push([
    shapeOf(c),
    variantOf(c),
    fmt(mine),
    ...theirs.map((t) => fmt(t)),
    ...theirs.map((t) => ratio(mine, t)),
  ]);
  if (g.hasF16) {
    const half = gflops(flop, await tryBestMs("kadapter f16", () => ours(c, d, "f16")));
    f16Rows.push([shapeOf(c), variantOf(c), fmt(half), fmt(mine), ratio(half, mine)]);
  }
}
if (suite("matmul")) {
  console.log("\nmatmul f32, GFLOP/s (best of the timed runs after one warm-up)\n");
  console.log(table([
    "product",
    "our variant",
    "kadapter",
    ...peers.map((p) => p.name),
    ...peers.map((p) => `kadapter/${p.name}`),
  ], mmRows));
  if (g.hasF16) {
    console.log("\nmatmul f16 operands (f32 accumulation), kadapter, GFLOP/s\n");
    console.log(table(["product", "our variant", "f16", "f32", "f16/f32"], f16Rows));
  } else {
    console.log("\nmatmul f16: skipped, the adapter has no shader-f16");
  }
}

// ---- row-wise ops at the activation shape ------------------------------------------------
if (suite("ops")) {
  const [rows, cols] = [4096, 1024];
  const x = Tensor.from(randomData(rows * cols), [rows, cols]);
  const opRows: string[][] = [];
  for (const op of opCases(rows, cols)) {
    console.error(`${op.name} [${rows}, ${cols}]`);
    const ms = await tryBestMs(op.name, () => op.prepare(x));
    opRows.push([op.name, `[${rows}, ${cols}] f32`, fmt(ms), fmt(ms && op.bytes / ms / 1e6)]);
  }
  x.dispose();
  console.log(
    "\nrow-wise ops, kadapter (GB/s counts one read of each operand and one write of the output)\n",
  );
  console.log(table(["op", "shape", "ms", "GB/s"], opRows));
}

// ---- the frozen encoder's forward ---------------------------------------------------------
if (suite("encoder")) {
  const encRows: string[][] = [];
  for (const preset of new Set(modelCases(quick, g.hasF16).map((c) => c.preset))) {
    const model = benchModel(preset);
    for (const c of modelCases(quick, g.hasF16).filter((c) => c.preset === preset)) {
      const tokens = c.batch * c.seq, peak = { bytes: 0 };
      console.error(`encoder ${preset} ${c.dtype}, ${c.batch} x ${c.seq} tokens`);
      const ms = await tryBestMs(`${preset} ${c.dtype}`, () => encoderRun(model, c, peak));
      const perLayer = ms && ms / BENCH_LAYERS;
      const layers = PRESETS[preset].layers;
      encRows.push([
        `roberta-${preset}`,
        c.dtype,
        `${c.batch} x ${c.seq}`,
        fmt(perLayer, 1),
        fmt(perLayer && (tokens * 1000) / perLayer, 0),
        fmt(perLayer && (tokens * 1000) / (perLayer * layers), 1),
        ms === null ? "n/a" : fmtBytes(peak.bytes),
      ]);
    }
    model.dispose();
  }
  console.log(
    `\nfrozen encoder forward (inference path), kadapter: ${BENCH_LAYERS} layers of each model's ` +
      "sizes timed, per-layer time scaled to the full depth; peak = GPU bytes allocated besides " +
      "the weights (does not grow with depth)\n",
  );
  console.log(table([
    "model",
    "compute",
    "tokens",
    "ms / layer",
    "tokens/s per layer",
    "tokens/s, all layers (est.)",
    "peak activations",
  ], encRows));
}

// ---- one fac training step ---------------------------------------------------------------
if (suite("fac")) {
  const facRows: string[][] = [];
  const facList = facCases(quick, g.hasF16, facBatch);
  const model = facEncoderModel(facList[0].preset);
  for (const c of facList) {
    console.error(`fac step ${facModelName(c)} ${c.dtype}, ${c.batch} x ${c.seq} tokens`);
    try {
      const r = await facStep(model, c, quick ? 2 : 1, (s) => console.error(s));
      const ms = r.frozenMs + r.restMs;
      facRows.push([
        facModelName(c),
        c.dtype,
        `${c.batch} x ${c.seq}`,
        fmt(ms, 0),
        fmt((c.batch * 1000) / ms, 2),
        `${fmt((100 * r.frozenMs) / ms, 0)}% / ${fmt((100 * r.restMs) / ms, 0)}%`,
        fmtBytes(r.trainBytes),
        fmtBytes(r.stepPeakBytes),
        fmtBytes(r.totalBytes),
        r.totalBytes <= 8 * 2 ** 30 ? "yes" : "no",
      ]);
    } catch (e) {
      console.error(`  failed (${e instanceof Error ? e.message : e})`);
    }
  }
  model.dispose();
  console.log(
    "\nfac training step (frozen forward, adapter + fac head + loss, backward, AdamW), " +
      "kadapter, random weights, best timed step after one warm-up" +
      (quick ? "; --quick: roberta-base at batch 8, not the roberta-large target shape" : "") +
      ". total = frozen weights at the real vocabulary (50,265) in the compute type + trainable " +
      "state + step peak; the 8 GB target is for roberta-large at batch 64\n",
  );
  console.log(table([
    "encoder",
    "frozen compute",
    "batch x seq",
    "ms / step",
    "examples/s",
    "frozen fwd / adapter fwd+bwd+AdamW",
    "adapter+head+AdamW state",
    "step peak",
    "total GPU memory",
    "<= 8 GiB",
  ], facRows));
}

// ---- one full fine-tuning step -------------------------------------------------------------
if (suite("finetune")) {
  const ftRows: string[][] = [];
  const ftList = finetuneCases(quick).filter((c) => c.adapters || !flags["no-baseline"]);
  const roberta = finetuneRoberta(ftList[0].preset);
  for (const c of ftList) {
    const what = c.adapters ? "fac+lin adapters" : "plain";
    console.error(`finetune step ${finetuneModelName(c)} ${what}, ${c.task} ${c.batch} x ${c.seq}`);
    // Full: one warm-up step with adapters; the plain rows reuse the shaders those compiled.
    const [warmup, timed] = quick ? [1, 2] : c.adapters ? [1, 1] : [0, 1];
    try {
      const r = await finetuneStep(roberta, c, warmup, timed, (s) => console.error(s));
      ftRows.push([
        finetuneModelName(c),
        finetuneTaskName(c),
        c.adapters ? "fac + lin, concat" : "none (plain RoBERTa)",
        `${c.batch} x ${c.seq}`,
        r.trainableParams.toLocaleString("en-US"),
        fmt(r.ms, 0),
        fmt((c.batch * 1000) / r.ms, 3),
        fmtBytes(r.residentBytes),
        fmtBytes(r.stepPeakBytes),
        fmtBytes(r.totalBytes),
        r.totalBytes <= 16 * 2 ** 30 ? "yes" : "no",
      ]);
    } catch (e) {
      console.error(`  failed (${e instanceof Error ? e.message : e})`);
    }
  }
  roberta.dispose();
  console.log(
    "\nfull fine-tuning step (encoder trained, adapters frozen; forward, head + loss, backward, " +
      "AdamW), kadapter, random weights, f32" +
      (quick ? "; --quick: roberta-base at small batches, not the paper's shapes" : "") +
      ". resident = parameters + AdamW moments (the real 50,265-word table, in pieces where " +
      "one storage binding cannot hold it); total = resident + step peak; the 16 GiB target " +
      "is the paper's GPUs\n",
  );
  console.log(table([
    "encoder",
    "task",
    "adapters",
    "batch x seq",
    "trainable params",
    "ms / step",
    "examples/s",
    "resident",
    "step peak",
    "total GPU memory",
    "<= 16 GiB",
  ], ftRows));
}
// ---- what any kernel can reach on this adapter ----------------------------------------------
if (suite("ceiling")) {
  console.error("ceiling: FMA, storage reads, a streaming copy, one dispatch");
  console.log(`\n${await ceilingSuite()}`);
}
// ---- kadapter against PyTorch ---------------------------------------------------------------
if (suite("torch")) {
  await torchSuite({
    quick,
    python: flags["torch-python"] ?? "/usr/bin/python3",
    threads: torchThreads,
    device: torchDevice,
  });
}
gpu().device.destroy();
