// Masked-LM pretraining of a tiny `model init`-style model on the bundled world corpus: the dev
// masked-LM loss falls well below the untrained model's and accuracy rises; model/ holds what
// was trained; batch masks are reproducible from (seed, indices); a stopped run resumed ends
// with the same bytes as a straight run; a folder without an lm_head is refused clearly.
import assert from "node:assert/strict";
import { join } from "node:path";
import { initGpu } from "../../src/gpu/device.ts";
import { writeRobertaTokenizer } from "../../src/formats/bpe_vocab.ts";
import { RobertaTokenizer } from "../../src/formats/tokenizer.ts";
import { presetConfig } from "../../src/models/roberta_config.ts";
import { RobertaModel } from "../../src/models/roberta.ts";
import { FrozenRoberta } from "../../src/models/roberta_frozen.ts";
import { Examples } from "../../src/tasks/examples.ts";
import { mlmPretrain, type MlmPretrainOptions } from "../../src/runs/mlm_pretrain.ts";
import { maskedBatch, masking } from "../../src/tasks/mlm.ts";
import { RunError } from "../../src/train/run.ts";
import { noGrad, type Tensor, tidy } from "../../src/tensor/mod.ts";

const CORPUS = new URL("../../data/world/corpus.arrow", import.meta.url).pathname;

await initGpu();
const root = await Deno.makeTempDir({ prefix: "kadapter_mlm_pretrain_" });
globalThis.addEventListener("unload", () => Deno.removeSync(root, { recursive: true }));

async function tinyModel(dir: string, lmHead: boolean): Promise<void> {
  const vocab = await writeRobertaTokenizer(dir, { merges: 2000, maxLength: 128 });
  const m = new RobertaModel(presetConfig("tiny", vocab), 3, { lmHead });
  await m.save(dir);
  m.dispose();
}
const modelDir = join(root, "tiny"), headless = join(root, "headless");
await tinyModel(modelDir, true);
await tinyModel(headless, false);

const quiet = { write: () => {}, tty: false };

function options(out: string, over: Partial<MlmPretrainOptions> = {}): MlmPretrainOptions {
  return {
    model: modelDir,
    corpus: CORPUS,
    out,
    batch: 32,
    accumulate: 1,
    lr: 2e-3,
    epochs: 1,
    warmup: 10,
    weightDecay: 0.01,
    maxGradNorm: 1,
    maskProb: 0.15,
    seed: 42,
    logEvery: 10,
    resume: false,
    progress: quiet,
    say: () => {},
    ...over,
  };
}

Deno.test("pretraining lowers the dev masked-LM loss; model/ holds the trained weights", async () => {
  const t0 = performance.now();
  // The corpus doubles as dev data: the check is that the model learns the language at all.
  const before = await mlmPretrain(
    options(join(root, "untrained"), { steps: 1, lr: 0, dev: CORPUS }),
  );
  const run = await mlmPretrain(
    options(join(root, "trained"), { steps: 150, evalEvery: 75, lr: 8e-3, dev: CORPUS }),
  );
  const secs = (performance.now() - t0) / 1000;
  const [b, a] = [before.dev!, run.dev!];
  console.log(
    `dev mlm_loss ${b.mlm_loss.toFixed(3)} -> ${a.mlm_loss.toFixed(3)}, accuracy ` +
      `${b.mlm_accuracy.toFixed(3)} -> ${a.mlm_accuracy.toFixed(3)} (150 steps, ${
        secs.toFixed(0)
      } s)`,
  );
  assert.ok(b.mlm_loss > 7, `untrained loss ${b.mlm_loss} near ln(vocab)`);
  assert.ok(a.mlm_loss < b.mlm_loss - 3.5, `loss ${b.mlm_loss} -> ${a.mlm_loss}`);
  assert.ok(
    a.mlm_accuracy > b.mlm_accuracy + 0.12,
    `accuracy ${b.mlm_accuracy} -> ${a.mlm_accuracy}`,
  );
  assert.equal(run.best?.metric, "mlm_loss");
  assert.equal(run.bestDir, join(root, "trained", "best"));
  for (const f of ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]) {
    await Deno.stat(join(run.modelDir, f));
    await Deno.stat(join(run.bestDir!, f));
  }
  await Deno.stat(join(root, "trained", "curves.svg"));

  // model/ loads both ways and gives the trained model's logits.
  const trained = await RobertaModel.load(run.modelDir, { lmHead: true });
  const frozen = await FrozenRoberta.fromFolder(run.modelDir);
  const tok = await RobertaTokenizer.fromFolder(run.modelDir);
  try {
    const batch = tok.encodeBatch(["Maro Fenson speaks slowly .", "Duna Delson wrote a letter"]);
    const logits = (f: () => Tensor) => {
      const t = tidy(() => noGrad(f));
      return t.data().finally(() => t.dispose());
    };
    const want = await logits(() => trained.mlmLogits(trained.forward(batch).at(-1)!));
    const got = await logits(() => frozen.mlmLogits(frozen.hiddenStates(batch).at(-1)!));
    assert.equal(got.length, want.length);
    let worst = 0;
    for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
    assert.ok(worst < 1e-5, `frozen vs trainable logits differ by ${worst}`);
  } finally {
    trained.dispose();
    frozen.dispose();
  }
});

Deno.test("a batch's mask follows from the seed and its example indices", async () => {
  const tok = await RobertaTokenizer.fromFolder(modelDir);
  const ex = new Examples(tok.vocabSize);
  for (let i = 0; i < 20; i++) {
    ex.add({ ids: tok.encode(`Person ${i} lives in a small town near the river .`).ids });
  }
  const m = masking(tok, tok.vocabSize, 0.15);
  const a = maskedBatch(ex, [3, 7, 1, 12], m, tok.padId, 42);
  const again = maskedBatch(ex, [3, 7, 1, 12], m, tok.padId, 42);
  assert.deepEqual(again.labels, a.labels);
  assert.deepEqual(again.batch.inputIds, a.batch.inputIds);
  assert.ok(a.labels.some((l) => l >= 0), "some tokens are chosen");
  const other = maskedBatch(ex, [3, 7, 1, 13], m, tok.padId, 42);
  const reseeded = maskedBatch(ex, [3, 7, 1, 12], m, tok.padId, 43);
  assert.notDeepEqual(other.labels, a.labels, "other indices, other mask");
  assert.notDeepEqual(reseeded.labels, a.labels, "other seed, other mask");
});

Deno.test("stopping halfway and resuming ends with the straight run's weights", async () => {
  const small = { steps: 12, batch: 8, warmup: 2, logEvery: 1 };
  const straight = await mlmPretrain(options(join(root, "straight"), small));
  assert.equal(straight.step, 12);
  const out = join(root, "cut");
  let calls = 0;
  const cut = await mlmPretrain(options(out, { ...small, stop: () => ++calls > 6 }));
  assert.ok(cut.interrupted && cut.step < 12, `stopped at ${cut.step}`);
  await assert.rejects(mlmPretrain(options(out, small)), /already holds a run; pass --resume/);
  await assert.rejects(
    mlmPretrain(options(out, { ...small, resume: true, seed: 7 })),
    /seed was 42, now 7/,
  );
  const resumed = await mlmPretrain(options(out, { ...small, resume: true }));
  assert.equal(resumed.step, 12);
  assert.deepEqual(
    await Deno.readFile(join(resumed.modelDir, "model.safetensors")),
    await Deno.readFile(join(straight.modelDir, "model.safetensors")),
    "resumed weights equal the straight run's",
  );
});

Deno.test("a model folder without an lm_head is refused with a clear error", async () => {
  await assert.rejects(
    mlmPretrain(options(join(root, "headless_run"), { model: headless, steps: 1 })),
    (e: Error) => e instanceof RunError && /has no masked-LM head.*model init/s.test(e.message),
  );
});
