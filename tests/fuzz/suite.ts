// The fuzz suite: seeded corrupted variants of every input kind a user hands kadapter, each
// run through the command that reads it, in this process. A case passes when the command
// either succeeds (the corruption kept the file valid: a flipped bit inside a weight) or
// fails as a user error: a non-zero exit and a one-paragraph message without a stack trace,
// within the time limit, leaving existing outputs byte-identical. Variants that can no
// longer be valid (cut JSON, truncated safetensors) must fail.
import { dirname, join, relative } from "node:path";
import { Rng } from "../../src/nn/init.ts";
import { corruptions } from "./corrupt.ts";
import { facArgs, finetuneArgs, type Inputs } from "./fixtures.ts";
import { jsonVariant } from "./json_mutations.ts";
import { type Outcome, runQuiet } from "./run.ts";

interface Target {
  kind: string;
  /** The file or folder a case copies, and the file in it that gets corrupted. */
  base: (i: Inputs) => string;
  file: string;
  /** The command reading the copy at `copy` (case folder `dir`). */
  args: (i: Inputs, copy: string, dir: string) => string[];
  /** Outputs that existed before the command and must not change when it fails. */
  keeps?: (copy: string, dir: string) => string[];
}

const encode = (i: Inputs, model: string, dir: string, extra: string[] = []) => [
  "encode",
  "--model",
  model,
  "--input",
  i.lines,
  "--out",
  join(dir, "h.safetensors"),
  ...extra,
];
const modelFile = (file: string): Target => ({
  kind: `model folder: ${file}`,
  base: (i) => i.model,
  file,
  args: (i, copy, dir) => encode(i, copy, dir),
});
const finetune = (task: string, data: keyof Inputs): Target => ({
  kind: `${task} data (Arrow)`,
  base: (i) => i[data],
  file: "",
  args: (i, copy, dir) => finetuneArgs(task, i.model, copy, join(dir, "run")),
});
const checkpointFile = (file: string): Target => ({
  kind: `checkpoint: ${file}`,
  base: (i) => i.facRun,
  file: join("checkpoint", file),
  args: (i, copy) => facArgs(i, copy, ["--resume", "--steps", "3"]),
  keeps: (copy) => [join(copy, "checkpoint"), join(copy, "adapter")],
});
const finetunedFile = (file: string): Target => ({
  kind: `fine-tuned folder: ${file}`,
  base: (i) => join(i.finetuned, "model"),
  file,
  args: (i, copy, dir) => [
    "eval",
    "relation",
    "--run",
    copy,
    "--data",
    i.relation,
    "--limit",
    "8",
    "--out",
    join(dir, "metrics.json"),
  ],
});
const converted = (format: string, data: keyof Inputs): Target => ({
  kind: `${format} input`,
  base: (i) => i[data],
  file: "",
  args: (_, copy, dir) => [
    "data",
    "convert",
    "--format",
    format,
    "--input",
    copy,
    "--out",
    join(dir, "out.arrow"),
    "--overwrite",
  ],
  keeps: (_, dir) => [join(dir, "out.arrow")],
});

export const TARGETS: Target[] = [
  modelFile("config.json"),
  modelFile("model.safetensors"),
  modelFile("tokenizer.json"),
  modelFile("tokenizer_config.json"),
  {
    kind: "trex-rc data (Arrow)",
    base: (i) => i.trex,
    file: "",
    args: (i, copy, dir) => facArgs({ ...i, trex: copy }, join(dir, "run")),
  },
  {
    kind: "dependency data (Arrow)",
    base: (i) => i.deps,
    file: "",
    args: (i, copy, dir) =>
      facArgs(i, join(dir, "run")).map((a, k, all) =>
        k === 1 ? "lin" : all[k - 1] === "--train" ? copy : a
      ),
  },
  finetune("relation", "relation"),
  finetune("entity-typing", "typing"),
  finetune("multiple-choice", "choice"),
  finetune("span-qa", "span"),
  ...["state.json", "data-00000-of-00002.arrow"].map((file): Target => ({
    kind: `save_to_disk folder: ${file}`,
    base: (i) => i.saved,
    file,
    args: (i, copy, dir) => facArgs({ ...i, trex: copy }, join(dir, "run")),
  })),
  ...["adapter_config.json", "adapter.safetensors"].map((file): Target => ({
    kind: `adapter folder: ${file}`,
    base: (i) => join(i.facRun, "adapter"),
    file,
    args: (i, copy, dir) => encode(i, i.model, dir, ["--adapters", `fac=${copy}`]),
  })),
  ...["trainer_state.json", "model.safetensors", "optimizer.safetensors"].map(checkpointFile),
  ...["finetune_config.json", "head.safetensors", "encoder/config.json"].map(finetunedFile),
  converted("entity-typing-json", "typingJson"),
  converted("tacred-json", "tacredJson"),
];

export type Verdict =
  | "accepted"
  | "refused"
  | "bug"
  | "long message"
  | "slow"
  | "not refused"
  | "output changed";

export interface CaseResult {
  target: string;
  variant: string;
  verdict: Verdict;
  outcome: Outcome;
}

/** Milliseconds a case may take: the slowest commands here finish in a few seconds. */
export const CASE_LIMIT_MS = 30_000;

async function snapshot(paths: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (p: string) => {
    const st = await Deno.stat(p).catch(() => null);
    if (!st) return out.set(p, "absent");
    if (st.isFile) {
      const hash = await crypto.subtle.digest("SHA-256", await Deno.readFile(p));
      return out.set(p, [...new Uint8Array(hash)].join(","));
    }
    for await (const e of Deno.readDir(p)) await walk(join(p, e.name));
  };
  for (const p of paths) await walk(p);
  return out;
}

async function copyInto(from: string, to: string): Promise<void> {
  const st = await Deno.stat(from);
  if (st.isFile) return await Deno.copyFile(from, to);
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) await copyInto(join(from, e.name), join(to, e.name));
}

/** One of corrupt.ts's variants of a binary file, picked by `rng`. */
function byteVariant(bytes: Uint8Array, rng: Rng) {
  const all = corruptions(bytes, rng, { perKind: 1 });
  return all[Math.floor(rng.next() * all.length)];
}

/** The judgement of one finished case. */
function judge(o: Outcome, mustFail: boolean, changed: boolean): Verdict {
  if (o.ms > CASE_LIMIT_MS) return "slow";
  if (o.code === 0) return mustFail ? "not refused" : "accepted";
  if (!o.text.startsWith("kadapter: ") || /\n\s+at /.test(o.text)) return "bug";
  if (o.text.includes("\n\n") || o.text.length > 1500) return "long message";
  return changed ? "output changed" : "refused";
}

/** Runs `cases` seeded cases, round robin over the targets; `onCase` sees each result. */
export async function runFuzz(
  i: Inputs,
  cases: number,
  seed: number,
  onCase: (r: CaseResult) => void = () => {},
  targets: Target[] = TARGETS,
): Promise<CaseResult[]> {
  const rng = new Rng(seed), results: CaseResult[] = [];
  for (let c = 0; c < cases; c++) {
    const t = targets[c % targets.length];
    const dir = join(i.root, `case-${c}`);
    await Deno.mkdir(dir);
    try {
      const base = t.base(i), copy = join(dir, relative(dirname(base), base));
      await copyInto(base, copy);
      const file = t.file ? join(copy, t.file) : copy;
      const bytes = await Deno.readFile(file);
      const json = file.endsWith(".json");
      const v = json ? jsonVariant(new TextDecoder().decode(bytes), rng) : byteVariant(bytes, rng);
      // A safetensors file cut short can never be valid (its header lists every byte range).
      const mustFail = "broken" in v
        ? v.broken === true
        : file.endsWith(".safetensors") && /^(cut|empty)/.test(v.name);
      await Deno.writeFile(file, v.bytes);
      // An output from before the command, which a failed write must leave as it was.
      if (t.kind.endsWith(" input")) await Deno.writeTextFile(join(dir, "out.arrow"), "old");
      const kept = t.keeps?.(copy, dir) ?? [];
      const before = await snapshot(kept);
      const outcome = await runQuiet(t.args(i, copy, dir));
      const after = await snapshot(kept);
      const changed = outcome.code !== 0 &&
        [...before].some(([p, h]) => after.get(p) !== h);
      const r = {
        target: t.kind,
        variant: v.name,
        verdict: judge(outcome, mustFail, changed),
        outcome,
      };
      results.push(r);
      onCase(r);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
  return results;
}

/** Counts by target and verdict, as table rows. */
export function tally(results: CaseResult[]): string {
  const by = new Map<string, Map<Verdict, number>>();
  for (const r of results) {
    const m = by.get(r.target) ?? new Map();
    m.set(r.verdict, (m.get(r.verdict) ?? 0) + 1);
    by.set(r.target, m);
  }
  const lines = [...by].map(([t, m]) =>
    `${t.padEnd(42)} ${[...m].map(([v, n]) => `${v} ${n}`).join(", ")}`
  );
  const slowest = Math.max(...results.map((r) => r.outcome.ms));
  return [...lines, `slowest case: ${(slowest / 1000).toFixed(1)} s`].join("\n");
}
