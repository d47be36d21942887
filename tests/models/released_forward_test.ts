// The released adapters (tests/fixtures/torch_bin/released_fac_trex, released_lin, as the
// released code saves them) with their pretraining heads give the logits the released code's
// forward gives (tools/reference/released_ref.py, in float64 torch): the adapter padding and
// position layout included (models/released_layout.ts). Each row is padded there to
// max_seq_length 6; kadapter's batch is the longest row (5), so the layout is exercised.
import assert from "node:assert/strict";
import { join } from "node:path";
import { openSafetensors } from "../../src/formats/safetensors.ts";
import { loadReleased } from "../../src/models/adapter_folder.ts";
import { FacHead, LinHead } from "../../src/models/kadapter_heads.ts";
import { FrozenRoberta } from "../../src/models/roberta_frozen.ts";
import type { PaddedBatch } from "../../src/tasks/examples.ts";
import { InfusionModel } from "../../src/tasks/infusion.ts";
import { assertClose, run, test } from "../setup.ts";

const DIR = new URL("../fixtures/torch_bin", import.meta.url).pathname;
const TOL = { atol: 2e-5, rtol: 2e-5 };

/** The expected file's batch cut to its longest row, as padBatch lays a batch out. */
async function expected() {
  const f = await openSafetensors(join(DIR, "released_expected.safetensors"));
  try {
    const [batch, S] = f.info("input_ids").shape;
    const ids = await f.readI32("input_ids"), mask = await f.readI32("attention_mask");
    const lengths = Array.from(
      { length: batch },
      (_, b) => mask.subarray(b * S, (b + 1) * S).reduce((s, m) => s + m, 0),
    );
    const seqLen = Math.max(...lengths);
    const cut = (x: Int32Array) =>
      Int32Array.from(
        { length: batch * seqLen },
        (_, i) => x[Math.floor(i / seqLen) * S + (i % seqLen)],
      );
    const b: PaddedBatch = {
      inputIds: cut(ids),
      attentionMask: cut(mask),
      batch,
      seqLen,
      indices: [...Array(batch).keys()],
    };
    return {
      b,
      S,
      subj: Array.from(await f.readI32("subj")),
      obj: Array.from(await f.readI32("obj")),
      fac: await f.readF32("fac_logits"),
      lin: await f.readF32("lin_logits"),
      lengths,
    };
  } finally {
    f.close();
  }
}

/** lin logits [batch, S, labels] at the real tokens of each row. */
function realRows(x: ArrayLike<number>, lengths: number[], seq: number, labels: number) {
  const out: number[] = [];
  lengths.forEach((n, b) => {
    for (let s = 0; s < n; s++) {
      for (let k = 0; k < labels; k++) out.push(x[(b * seq + s) * labels + k]);
    }
  });
  return out;
}

test("released fac and lin adapters with their heads: the released code's logits", async () => {
  const e = await expected();
  const encoder = await FrozenRoberta.fromFolder(join(DIR, "released_encoder"), {
    lmHead: false,
  });
  const base = { hidden: encoder.dims.hidden, layers: encoder.dims.layers };
  const fac = await loadReleased(join(DIR, "released_fac_trex"), base, { head: true });
  const lin = await loadReleased(join(DIR, "released_lin"), base, { head: true });
  try {
    assert.ok(fac.head?.module instanceof FacHead && lin.head?.module instanceof LinHead);
    const facHead = fac.head.module, linHead = lin.head.module;
    const logits = (padTo: number) =>
      run(() => {
        const f = new InfusionModel(encoder, fac.adapter, padTo).features(e.b);
        const l = new InfusionModel(encoder, lin.adapter, padTo).features(e.b);
        return [
          facHead.forward(f.last, f.adapter, e.subj, e.obj),
          linHead.forward(l.last, l.adapter, l.mask),
        ];
      });
    const [facOut, linOut] = await logits(e.S);
    assertClose(facOut, e.fac, TOL, "fac logits");
    const labels = lin.head.meta.maxLength!;
    assertClose(
      realRows(linOut, e.lengths, e.b.seqLen, labels),
      realRows(e.lin, e.lengths, e.S, labels),
      TOL,
      "lin logits at real tokens",
    );
    // Without the released padding (the batch's own length) the adapters see other padding
    // and positions: the logits move well past the tolerance, so the check above can fail.
    const [facShort] = await logits(e.b.seqLen);
    const moved = Math.max(...facShort.map((v, i) => Math.abs(v - e.fac[i])));
    assert.ok(moved > 100 * TOL.atol, `layout made no difference (${moved})`);
  } finally {
    for (const a of [fac, lin]) {
      a.adapter.dispose();
      a.head?.module.dispose();
    }
    encoder.dispose();
  }
});

test("a mask-all adapter's output at a row does not depend on the rest of its batch", async () => {
  const e = await expected();
  const encoder = await FrozenRoberta.fromFolder(join(DIR, "released_encoder"), {
    lmHead: false,
  });
  const base = { hidden: encoder.dims.hidden, layers: encoder.dims.layers };
  const fac = await loadReleased(join(DIR, "released_fac_trex"), base);
  try {
    const m = new InfusionModel(encoder, fac.adapter, e.S);
    const n = e.lengths[2]; // the shortest row, alone: a batch of its own length
    const alone: PaddedBatch = {
      inputIds: e.b.inputIds.slice(2 * e.b.seqLen, 2 * e.b.seqLen + n),
      attentionMask: e.b.attentionMask.slice(2 * e.b.seqLen, 2 * e.b.seqLen + n),
      batch: 1,
      seqLen: n,
      indices: [0],
    };
    const [together, single] = await run(
      () => [m.features(e.b).adapter, m.features(alone).adapter],
    );
    const H = encoder.dims.hidden, from = 2 * e.b.seqLen * H;
    assertClose(single, together.subarray(from, from + n * H), { atol: 1e-6, rtol: 1e-6 });
  } finally {
    fac.adapter.dispose();
    encoder.dispose();
  }
});
