// LAMA-UHN's person-name filter with a tiny random model that has a masked-LM head: it drops
// exactly the person-name facts whose object is in the model's top 3 for the name-only
// template (checked here by running each name query alone, full forward, ranked on the host)
// and keeps every other relation; `probe lama --uhn [--uhn-model]` records the setting in
// results.json, says when the person-name filter is not applied, and --uhn-model without
// --uhn is a usage error.
import assert from "node:assert/strict";
import { join } from "node:path";
import { writeRobertaTokenizer } from "../../src/formats/bpe_vocab.ts";
import { convert } from "../../src/formats/convert/convert.ts";
import type { LamaRow } from "../../src/formats/schemas.ts";
import { RobertaTokenizer } from "../../src/formats/tokenizer.ts";
import { presetConfig } from "../../src/models/roberta_config.ts";
import { RobertaModel } from "../../src/models/roberta.ts";
import { FrozenRoberta } from "../../src/models/roberta_frozen.ts";
import { encodeMasked, planQueries, readLamaQueries } from "../../src/tasks/lama_data.ts";
import { commonVocab } from "../../src/tasks/lama_metrics.ts";
import {
  mlmGuesser,
  NAME_TEMPLATES,
  personNameFilter,
  SKIP_UHN_NAME,
  UHN_TOP_K,
} from "../../src/tasks/lama_uhn.ts";
import { probeLama } from "../../src/cli/probe.ts";
import { UsageError } from "../../src/cli/options.ts";
import { cast, tidy } from "../../src/tensor/mod.ts";
import { test } from "../setup.ts";

const root = await Deno.makeTempDir({ prefix: "kadapter_lama_uhn_" });
globalThis.addEventListener("unload", () => Deno.removeSync(root, { recursive: true }));
const modelDir = join(root, "tiny");
{
  const vocab = await writeRobertaTokenizer(modelDir, { merges: 50000, maxLength: 128 });
  const m = new RobertaModel(presetConfig("tiny", vocab), 7, { lmHead: true });
  await m.save(modelDir);
  m.dispose();
}
const tok = await RobertaTokenizer.fromFolder(modelDir);

const WORLD = new URL("../../data/world/", import.meta.url).pathname;
const lamaFile = join(root, "world_lama.arrow");
const converted = await convert("lama-trex", join(WORLD, "facts.jsonl"), lamaFile, {
  relations: join(WORLD, "relations.jsonl"),
});

/** The paper's name-only templates, written out here independently of the module. */
const EXPECTED_TEMPLATE: Record<string, string> = {
  P19: "city",
  P20: "city",
  place_of_birth: "city",
  place_of_death: "city",
  P27: "country",
  P103: "language",
  P1412: "language",
};

/** The guesser's top-k ids over the candidates, each name query alone on the host. */
async function hostTop(
  model: FrozenRoberta,
  sentence: string,
  candidates: Int32Array | null,
  k: number,
): Promise<number[]> {
  const q = encodeMasked(tok, sentence)!;
  const logits = tidy(() => {
    const [h] = model.hiddenStates(tok.padBatch([q.ids]), { keep: [model.dims.layers] });
    const l = model.mlmLogits(h);
    return l.dtype === "f32" ? l : cast(l, "f32");
  });
  const all = await logits.data();
  logits.dispose();
  const V = model.dims.vocab, row = all.subarray(q.maskPos * V, (q.maskPos + 1) * V);
  const ids = candidates ? Array.from(candidates) : Array.from(row, (_, i) => i);
  return ids.sort((a, b) => row[b] - row[a] || a - b).slice(0, k);
}

const WORDS = ["the", "a", "of", "in", "and", "to", "is", "was"];

function rows(): LamaRow[] {
  const objs = WORDS.filter((o) => tok.encodeText(" " + o).length === 1);
  assert.ok(objs.length >= 6, `single-token objects: ${objs}`);
  const rels = ["P19", "P27", "P1412", "place_of_birth", "P103", "P108", "P17", "P20"];
  const names = ["Anna Berg", "Luca Rossi", "Kenji Sato", "Olga Ivanova", "Juan Perez"];
  const out: LamaRow[] = [];
  rels.forEach((relation, r) =>
    names.forEach((sub, n) => {
      // Two objects per subject for some: the name query is asked once, both are judged.
      for (let j = 0; j < (n % 2 === 0 ? 2 : 1); j++) {
        out.push({
          relation,
          sub_label: sub,
          obj_label: objs[(r + 3 * n + j) % objs.length],
          masked_sentence: `${sub} relates to [MASK] .`,
          source: "test",
        });
      }
    })
  );
  return out;
}

test("personNameFilter: drops exactly the person facts whose object is in the name top 3", async () => {
  assert.deepEqual(
    { ...NAME_TEMPLATES },
    Object.fromEntries(
      Object.entries(EXPECTED_TEMPLATE).map((
        [r, w],
      ) => [r, `[X] is a common name in the following ${w}: [MASK] .`]),
    ),
  );
  assert.equal(UHN_TOP_K, 3);
  const model = await FrozenRoberta.fromFolder(modelDir, { lmHead: true });
  try {
    const { queries } = await planQueries(rows(), tok);
    assert.equal(queries.length, rows().length);
    // A small candidate set makes a top 3 hit likely; the whole vocabulary makes it rare.
    const small = commonVocab(tok, WORDS).ids;
    let droppedSomething = false;
    for (const candidates of [small, null]) {
      const r = await personNameFilter(queries, mlmGuesser(model, tok), {
        candidates,
        batchSize: 4,
      });
      const expectKept: typeof queries = [];
      const tops = new Map<string, number[]>();
      let checked = 0;
      for (const q of queries) {
        const what = EXPECTED_TEMPLATE[q.relation];
        if (what === undefined) {
          expectKept.push(q);
          continue;
        }
        checked++;
        const sentence = `${q.sub} is a common name in the following ${what}: [MASK] .`;
        if (!tops.has(sentence)) tops.set(sentence, await hostTop(model, sentence, candidates, 3));
        if (!tops.get(sentence)!.includes(q.objId)) expectKept.push(q);
      }
      assert.deepEqual(r.queries, expectKept);
      assert.equal(r.dropped, queries.length - expectKept.length);
      assert.equal(r.checked, checked);
      assert.equal(r.asked, tops.size);
      // Non-person relations all pass through.
      for (const q of queries) {
        if (!(q.relation in EXPECTED_TEMPLATE)) assert.ok(r.queries.includes(q));
      }
      if (candidates !== null) droppedSomething = r.dropped > 0;
    }
    assert.ok(droppedSomething, "with 8 candidates, some name top 3 holds the object");
    // An object outside the candidates cannot be guessed: kept, never an error.
    const none = await personNameFilter(queries, mlmGuesser(model, tok), {
      candidates: Int32Array.from([tok.encodeText(" zebra")[0]]),
    });
    assert.equal(none.dropped, 0);
    assert.equal(none.queries.length, queries.length);
  } finally {
    model.dispose();
  }
});

/** Runs fn with console.log captured. */
const captured = async <T>(fn: () => Promise<T>): Promise<{ value: T; log: string }> => {
  const log = console.log, lines: string[] = [];
  console.log = (...a: unknown[]) => lines.push(a.join(" "));
  try {
    return { value: await fn(), log: lines.join("\n") };
  } finally {
    console.log = log;
  }
};

test("probe lama --uhn: the person-name filter recorded, applied or said not to be", async () => {
  const base = { model: modelDir, data: lamaFile, batch: "32", "top-k": "3", uhn: true };
  // --uhn alone: string match only, and it says the person-name filter was not applied.
  const out1 = join(root, "uhn_only");
  const r1 = await captured(() => probeLama.run({ ...base, out: out1 }));
  assert.equal(r1.value, 0);
  assert.match(r1.log, /person-name filter not applied \(no --uhn-model\)/);
  const res1 = JSON.parse(await Deno.readTextFile(join(out1, "results.json")));
  assert.equal(res1.uhn, true);
  assert.deepEqual(res1.uhn_filters, {
    string_match: true,
    person_name: "not applied (no --uhn-model)",
  });
  assert.equal(res1.skipped[SKIP_UHN_NAME], undefined);

  // With --uhn-model (the same weights, loaded separately through a different path string)
  // and a small common vocabulary: both filters.
  const plan = await planQueries(readLamaQueries(lamaFile), tok, { uhn: true });
  // Candidates: the person-relation objects and four others, few enough that the name top 3
  // holds some objects; the facts whose object is outside them are skipped as not common.
  const person = plan.queries.filter((q) => q.relation in EXPECTED_TEMPLATE);
  const others = [...new Set(plan.queries.map((q) => q.obj))].slice(0, 4);
  const words = [...new Set([...person.map((q) => q.obj), ...others])];
  const vocabFile = join(root, "common.txt");
  await Deno.writeTextFile(vocabFile, words.join("\n") + "\n");
  const cand = commonVocab(tok, words).ids;
  const common = await planQueries(readLamaQueries(lamaFile), tok, {
    uhn: true,
    commonVocab: cand,
  });
  const model = await FrozenRoberta.fromFolder(modelDir, { lmHead: true });
  let direct;
  try {
    direct = await personNameFilter(common.queries, mlmGuesser(model, tok), {
      candidates: cand,
    });
  } finally {
    model.dispose();
  }
  assert.ok(direct.checked > 0, "the world has single-token person-relation facts");
  assert.ok(direct.dropped > 0 && direct.dropped < common.queries.length);
  for (const uhnModel of [modelDir, modelDir + "/"]) {
    const out2 = join(root, "uhn_model" + uhnModel.length);
    const r2 = await captured(() =>
      probeLama.run({ ...base, out: out2, "common-vocab": vocabFile, "uhn-model": uhnModel })
    );
    assert.equal(r2.value, 0);
    assert.match(r2.log, new RegExp(`${direct.dropped} dropped`));
    const res2 = JSON.parse(await Deno.readTextFile(join(out2, "results.json")));
    assert.deepEqual(res2.uhn_filters, {
      string_match: true,
      person_name: { model: uhnModel, top_k: 3, checked: direct.checked, dropped: direct.dropped },
    });
    assert.equal(res2.skipped[SKIP_UHN_NAME] ?? 0, direct.dropped);
    const preds = (await Deno.readTextFile(join(out2, "predictions.jsonl"))).trim().split("\n")
      .filter((l) => l !== "").map((l) => JSON.parse(l));
    assert.equal(preds.length, direct.queries.length);
    const skipped = Object.values(res2.skipped as Record<string, number>)
      .reduce((a, b) => a + b, 0);
    assert.equal(preds.length + skipped, converted.rows);
  }
});

Deno.test("probe lama: --uhn-model without --uhn is a usage error", async () => {
  await assert.rejects(
    probeLama.run({
      model: modelDir,
      data: lamaFile,
      out: join(root, "bad"),
      batch: "32",
      "top-k": "3",
      "uhn-model": modelDir,
    }),
    (e: Error) => e instanceof UsageError && /--uhn-model goes with --uhn/.test(e.message),
  );
});
