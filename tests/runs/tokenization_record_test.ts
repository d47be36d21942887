// The tokenization scheme is recorded where a model is used again: adapter_config.json (an
// old folder without it reads as hf), finetune_config.json (eval / predict encode with it),
// the run config (--resume refuses another); fine-tuning over an adapter recorded under
// another scheme warns.
import assert from "node:assert/strict";
import { join } from "node:path";
import { ADAPTER_CONFIG, readAdapterFolder } from "../../src/models/adapter_folder.ts";
import { finetune } from "../../src/runs/finetune.ts";
import { FINETUNE_CONFIG, loadFinetuned } from "../../src/tasks/finetuned.ts";
import { DATA, finetuneFixture, runOptions } from "../tasks/finetune_fixture.ts";

const { root, modelDir, facDir } = await finetuneFixture("kadapter_tokenization_");
const data = {
  train: join(DATA, "relation_train.arrow"),
  dev: join(DATA, "relation_dev.arrow"),
};
const short = { steps: 2, evalEvery: 2, limit: 16, devLimit: 8, batch: 8 };

Deno.test("adapter_config.json records the scheme; a folder without it is hf", async () => {
  assert.equal((await readAdapterFolder(facDir)).meta.tokenization, "original");
  const old = join(root, "old_fac");
  await Deno.mkdir(old);
  for (const f of await Array.fromAsync(Deno.readDir(facDir))) {
    await Deno.copyFile(join(facDir, f.name), join(old, f.name));
  }
  const json = JSON.parse(await Deno.readTextFile(join(old, ADAPTER_CONFIG)));
  delete json.tokenization;
  await Deno.writeTextFile(join(old, ADAPTER_CONFIG), JSON.stringify(json));
  assert.equal((await readAdapterFolder(old)).meta.tokenization, "hf");
  json.tokenization = "bpe";
  await Deno.writeTextFile(join(old, ADAPTER_CONFIG), JSON.stringify(json));
  await assert.rejects(readAdapterFolder(old), /tokenization must be "original" or "hf"/);
});

Deno.test("finetune: the scheme in finetune_config.json, a warning, --resume refuses a change", async () => {
  const said: string[] = [];
  const out = join(root, "run");
  const o = runOptions("relation", modelDir, data, out, {
    ...short,
    adapters: [{ name: "fac", dir: facDir }],
    tokenization: "hf",
    say: (l) => said.push(l),
  });
  const r = await finetune(o);
  const fc = JSON.parse(await Deno.readTextFile(join(r.modelDir, FINETUNE_CONFIG)));
  assert.equal(fc.tokenization, "hf");
  // eval / predict encode with the folder's scheme; a folder without the field was hf.
  delete fc.tokenization;
  await Deno.writeTextFile(join(r.modelDir, FINETUNE_CONFIG), JSON.stringify(fc));
  const m = await loadFinetuned(r.modelDir);
  assert.equal(m.config.tokenization, "hf");
  m.dispose();
  const warned = said.filter((l) => l.startsWith("warning: adapter fac"));
  assert.equal(warned.length, 1, said.join("\n"));
  assert.match(warned[0], /--tokenization original; this run uses hf/);
  await assert.rejects(
    finetune({ ...o, tokenization: "original", resume: true }),
    /tokenization/,
  );
  said.length = 0;
  await finetune(runOptions("relation", modelDir, data, join(root, "same"), {
    ...short,
    adapters: [{ name: "fac", dir: facDir }],
    say: (l) => said.push(l),
  }));
  assert.ok(!said.some((l) => l.startsWith("warning")), said.join("\n"));
});
