// Training checkpoints for --resume: trainable parameters, AdamW moments and step, and the
// loop state (data position, dropout counter, best metric). A checkpoint folder is written
// whole into a temporary sibling, flushed, then swapped in, so `dir` always holds either the
// previous complete checkpoint or the new complete one.
import { UserError } from "../errors.ts";
import { join } from "node:path";
import type { AdamW } from "../nn/optim.ts";
import { openSafetensors, type SafetensorsFile } from "../formats/safetensors.ts";
import { readInto, saveState, shapesOf, stateProblems } from "../formats/state.ts";
import { leftoverTemps, recover, writeFolderAtomic, writeTextAtomic } from "../formats/atomic.ts";
import type { Tensor } from "../tensor/mod.ts";
import type { SamplerState } from "./sampler.ts";
import { FieldProblems, intIn, isObject } from "../formats/json.ts";

/** Interrupted saves next to a checkpoint folder. */
export { leftoverTemps };

export const PARAMS_FILE = "model.safetensors";
export const OPTIMIZER_FILE = "optimizer.safetensors";
/** Written last: a folder without it is incomplete. */
export const STATE_FILE = "trainer_state.json";
const FORMAT = "kadapter-train-state/2";

export interface TrainState {
  /** Optimizer steps done (also AdamW's bias-correction step). */
  step: number;
  sampler: SamplerState;
  /** Each dropout stream's seed and counter, in the model's order. */
  dropout: { seed: number; counter: number }[];
  best: { metric: string; value: number; step: number } | null;
  config: Record<string, unknown>;
}

export class CheckpointError extends UserError {
  constructor(dir: string, message: string) {
    super(`checkpoint ${dir}: ${message}`);
  }
}

type Named = readonly (readonly [string, Tensor])[];

/** Each named parameter's moments (found by identity in the optimizer) as `m.`/`v.` names. */
function moments(params: Named, opt: AdamW): Named {
  return params.flatMap(([name, t]) => {
    const i = opt.params.indexOf(t);
    if (i < 0) throw new Error(`parameter ${name} is not in the optimizer`);
    return [[`m.${name}`, opt.m[i]], [`v.${name}`, opt.v[i]]] as const;
  });
}

/** Saves params, moments and `state` to `dir` atomically (writeFolderAtomic). */
export async function saveCheckpoint(
  dir: string,
  params: Named,
  opt: AdamW,
  state: TrainState,
): Promise<void> {
  await writeFolderAtomic(dir, async (tmp) => {
    await saveState(join(tmp, PARAMS_FILE), params);
    await saveState(join(tmp, OPTIMIZER_FILE), moments(params, opt), { step: String(opt.step) });
    const json = { format: FORMAT, ...state, step: opt.step };
    await writeTextAtomic(join(tmp, STATE_FILE), JSON.stringify(json, null, 2) + "\n");
  });
}

/** Reads and validates the state file, with the cause when the checkpoint is incomplete. */
export async function readTrainState(dir: string): Promise<TrainState> {
  await recover(dir);
  let text: string;
  try {
    text = await Deno.readTextFile(join(dir, STATE_FILE));
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw new CheckpointError(dir, String(e));
    const temps = await leftoverTemps(dir);
    const hint = temps.length ? `; ${temps[0]} is an interrupted save, not a checkpoint` : "";
    throw new CheckpointError(dir, `no ${STATE_FILE} (missing or incomplete checkpoint)${hint}`);
  }
  let s: TrainState & { format?: string };
  try {
    s = JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(dir, `${STATE_FILE} is not JSON (${(e as Error).message})`);
  }
  if (!isObject(s) || s.format !== FORMAT) {
    throw new CheckpointError(dir, `${STATE_FILE} is not a ${FORMAT} file`);
  }
  const problems = stateProblemsOf(s);
  if (problems.length) {
    throw new CheckpointError(
      dir,
      `${STATE_FILE} is damaged: ${problems.join("; ")}. Resume from an intact checkpoint ` +
        `(checkpoint-<step>/ with --save-total-limit) or start afresh with --overwrite`,
    );
  }
  const { format: _, ...state } = s;
  return state;
}

const U32 = 2 ** 32 - 1, I31 = 2 ** 31 - 1;

/** What is wrong in a state file's fields, each as `field: what it must be, got what`. */
function stateProblemsOf(s: Record<string, unknown>): string[] {
  const { list: out, need } = new FieldProblems();
  need(intIn(s.step, 0, I31), "step", `an integer in [0, ${I31}]`, s.step);
  const sm = s.sampler;
  need(isObject(sm), "sampler", "an object {seed, epoch, position}", sm);
  if (isObject(sm)) {
    for (const k of ["seed", "epoch", "position"]) {
      need(
        intIn(sm[k], 0, k === "seed" ? U32 : I31),
        `sampler.${k}`,
        "a non-negative integer",
        sm[k],
      );
    }
  }
  need(Array.isArray(s.dropout), "dropout", "a list of {seed, counter}", s.dropout);
  if (Array.isArray(s.dropout)) {
    // The first bad stream is enough to say the file is damaged.
    const i = s.dropout.findIndex((d) =>
      !(isObject(d) && intIn(d.seed, 0, U32) && intIn(d.counter, 0, Number.MAX_SAFE_INTEGER))
    );
    if (i >= 0) {
      need(false, `dropout[${i}]`, "{seed, counter} of non-negative integers", s.dropout[i]);
    }
  }
  const b = s.best;
  const bestOk = b === null || (isObject(b) && typeof b.metric === "string" &&
    Number.isFinite(b.value) && intIn(b.step, 0, I31) && (b.step as number) <= (s.step as number));
  need(bestOk, "best", "null or {metric, value, step} with a finite value and a past step", b);
  need(isObject(s.config), "config", "an object", s.config);
  return out;
}

/**
 * Loads a checkpoint into the model's parameters and the optimizer (same names and shapes
 * required) and returns the loop state.
 */
export async function loadCheckpoint(dir: string, params: Named, opt: AdamW): Promise<TrainState> {
  const state = await readTrainState(dir);
  const parts = [[PARAMS_FILE, params], [OPTIMIZER_FILE, moments(params, opt)]] as const;
  const files: SafetensorsFile[] = [];
  try {
    for (const [f] of parts) {
      try {
        files.push(await openSafetensors(join(dir, f)));
      } catch (e) {
        throw new CheckpointError(dir, (e as Error).message);
      }
    }
    // The moments' file records the step it was saved at: a state file edited or swapped in
    // from another save would resume the moments at the wrong bias correction.
    const momentStep = files[1].metadata.step;
    if (momentStep !== undefined && momentStep !== String(state.step)) {
      throw new CheckpointError(
        dir,
        `${STATE_FILE} says step ${state.step}, ${OPTIMIZER_FILE} was saved at step ` +
          `${momentStep}: the files are from different saves`,
      );
    }
    // The files' side first, as these messages always listed it.
    const problems = parts.flatMap(([, named], i) =>
      stateProblems(files[i], shapesOf(named), true)
    );
    if (problems.length) {
      const more = problems.length > 8 ? ` (and ${problems.length - 8} more)` : "";
      throw new CheckpointError(
        dir,
        `does not match the model: ${problems.slice(0, 8).join("; ")}${more}`,
      );
    }
    for (const [i, [, named]] of parts.entries()) await readInto(files[i], named);
  } finally {
    for (const f of files) f.close();
  }
  opt.step = state.step;
  return state;
}
