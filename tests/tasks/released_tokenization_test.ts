// The default (`original`) tokenization gives the released K-Adapter code's token ids for
// every task. The expected ids come from an implementation of the released rules written
// here from the Python scripts (segments built as they build them, pytorch_transformers
// 1.2.0's tokenize: split at special tokens, strip, a leading space, GPT-2 BPE), tokenized by
// gpt-3-encoder's BPE (RoBERTa id = GPT-2 id + 4 in this build), not by kadapter's tokenizer.
import assert from "node:assert/strict";
import { encode as gpt2Encode } from "gpt-3-encoder";
import { buildRobertaTokenizer, loadGpt2Bpe } from "../../src/formats/bpe_vocab.ts";
import { releasedIds } from "../../src/formats/tokenization.ts";
import { RobertaTokenizer } from "../../src/formats/tokenizer.ts";
import type { EntityTypingRow, TrexRow } from "../../src/formats/schemas.ts";
import { encodeFac } from "../../src/tasks/fac.ts";
import { encodeLin } from "../../src/tasks/lin.ts";
import { encodeTyping } from "../../src/tasks/entity_typing.ts";
import { encodeRelation } from "../../src/tasks/relation.ts";
import { encodeChoice } from "../../src/tasks/multiple_choice.ts";
import { encodeSpanQa } from "../../src/tasks/span_qa.ts";

const files = buildRobertaTokenizer(await loadGpt2Bpe());
const tok = new RobertaTokenizer(files.tokenizer, files.config);
const [BOS, EOS] = [0, 2];
const SPECIALS = new Map([["<s>", 0], ["<pad>", 1], ["</s>", 2], ["<unk>", 3], ["<mask>", 50264]]);

// Python's str.isspace() characters.
const PY_WS = new Set(
  [..."\t\n\v\f\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000"]
    .concat(Array.from({ length: 11 }, (_, i) => String.fromCharCode(0x2000 + i))),
);
function strip(s: string): string {
  const c = [...s];
  while (c.length && PY_WS.has(c[0])) c.shift();
  while (c.length && PY_WS.has(c[c.length - 1])) c.pop();
  return c.join("");
}

/**
 * tokenization_utils.py tokenize + convert_tokens_to_ids, for the RoBERTa tokenizer. One
 * exception: for a text of whitespace only, split_on_token returns one special token, the
 * first of all_special_tokens, a list made from a set (its order follows Python's string
 * hash seed); here, as in kadapter, such a text gives nothing.
 */
function pyTokenize(text: string): number[] {
  if (strip(text) === "") return [];
  let pieces: (string | number)[] = [text];
  for (const [t, id] of SPECIALS) {
    pieces = pieces.flatMap((p) => {
      if (typeof p === "number") return [p];
      const split = p.split(t), out: (string | number)[] = [];
      split.forEach((s, i) => {
        const x = strip(s);
        if (i === 0 && x === "") out.push(id);
        else if (i === split.length - 1) x !== "" && out.push(x);
        else {
          if (x !== "") out.push(x);
          out.push(id);
        }
      });
      return out;
    });
  }
  return pieces.flatMap((p) => typeof p === "number" ? [p] : gpt2Encode(" " + p).map((i) => i + 4));
}
const bare = (t: string) => gpt2Encode(t).map((i) => i + 4);

/** utils_glue.py convert_examples_to_features_trex (and TACRED's), before padding. */
function releasedTrex(r: TrexRow, max: number) {
  const j = (a: number, b?: number) => pyTokenize(r.token.slice(a, b).join(" "));
  const [at, hash] = [bare("@")[0], bare("#")[0]];
  let tokens: number[], subj: number, obj: number;
  if (r.subj_start < r.obj_start) {
    tokens = j(0, r.subj_start);
    subj = tokens.length;
    tokens.push(at, ...j(r.subj_start, r.subj_end + 1), at, ...j(r.subj_end + 1, r.obj_start));
    obj = tokens.length;
    tokens.push(hash, ...j(r.obj_start, r.obj_end + 1), hash, ...j(r.obj_end + 1));
  } else {
    tokens = j(0, r.obj_start);
    obj = tokens.length;
    tokens.push(hash, ...j(r.obj_start, r.obj_end + 1), hash, ...j(r.obj_end + 1, r.subj_start));
    subj = tokens.length;
    tokens.push(at, ...j(r.subj_start, r.subj_end + 1), at, ...j(r.subj_end + 1));
  }
  tokens = tokens.slice(0, max - 2);
  return { ids: [BOS, ...tokens, EOS], subj: subj + 1, obj: obj + 1 };
}

const TREX: TrexRow[] = [
  {
    token: ["Barack", "Obama", "was", "born", "in", "Honolulu", "."],
    subj_start: 0,
    subj_end: 1,
    obj_start: 5,
    obj_end: 5,
    relation: "r",
  },
  {
    token: ["In", "1998", ",", "O'Neil", "'s", "firm", "moved", "to", "São", "Paulo", "."],
    subj_start: 3,
    subj_end: 3,
    obj_start: 8,
    obj_end: 9,
    relation: "r",
  },
  {
    token: ["Paris", "is", "the", "capital", "of", "France"],
    subj_start: 5,
    subj_end: 5,
    obj_start: 0,
    obj_end: 0,
    relation: "r",
  },
];
const R = new Map([["r", 0]]);

Deno.test("fac and relation (TACRED): the released ids and marker positions", () => {
  for (const max of [64, 12]) {
    for (const row of TREX) {
      const want = releasedTrex(row, max);
      for (const got of [encodeFac(tok, row, R, max), encodeRelation(tok, row, R, max)]) {
        if (typeof got === "string") {
          assert.ok(want.subj >= max - 1 || want.obj >= max - 1, got);
          continue;
        }
        assert.deepEqual(Array.from(got.ids), want.ids, row.token.join(" "));
        assert.deepEqual([got.values!.subj, got.values!.obj], [want.subj, want.obj]);
      }
    }
  }
  // The first word gets Ġ, the markers are the bare `@` / `#` tokens.
  const e = encodeFac(tok, TREX[0], R, 64);
  assert.ok(typeof e !== "string");
  assert.deepEqual(Array.from(e.ids).slice(0, 4).map((i) => tok.idToToken(i)), [
    "<s>",
    "@",
    "ĠBarack",
    "ĠObama",
  ]);
});

Deno.test("lin: every word tokenized alone with a leading space (find_head)", () => {
  const row = { tokens: ["Barack", "Obama", "visited", "Zürich", "'s", "old", "town", "."] };
  const want = [BOS, ...row.tokens.flatMap((w) => pyTokenize(w)), EOS];
  const got = encodeLin(tok, { ...row, heads: [2, 3, 0, 7, 4, 7, 3, 3] }, 64);
  assert.ok(typeof got !== "string");
  assert.deepEqual(got.ids, want);
});

/** convert_examples_to_features_entity_typing (OpenEntity and FIGER), before padding. */
function releasedTyping(r: EntityTypingRow) {
  const before = pyTokenize(r.text.slice(0, r.start));
  const ids = [BOS, ...before, ...pyTokenize("@"), ...pyTokenize(r.text.slice(r.start, r.end))];
  ids.push(...pyTokenize("@"), ...pyTokenize(r.text.slice(r.end)), EOS);
  return { ids, mention: 1 + before.length };
}

Deno.test("entity typing (OpenEntity, FIGER): the released ids, marker Ġ@", () => {
  const types = new Map([["person", 0]]);
  const rows: EntityTypingRow[] = [
    { text: "Barack Obama was born in Honolulu.", start: 0, end: 12, labels: ["person"] },
    { text: "The U.S.-based firm  hired  him .", start: 4, end: 8, labels: ["person"] },
    { text: "He met Olaf Scholz", start: 7, end: 18, labels: ["person"] },
  ];
  for (const row of rows) {
    const got = encodeTyping(tok, row, types, 256);
    assert.ok(typeof got !== "string");
    const want = releasedTyping(row);
    assert.deepEqual(got.ids, want.ids, row.text);
    assert.equal(got.values.mention, want.mention);
    assert.equal(tok.idToToken(got.ids[got.values.mention]), "Ġ@");
  }
});

Deno.test("CosmosQA: <s> context </s> question </s> answer </s>, released truncation", () => {
  const row = {
    context: "Today I went to the store . It was closed , so I went home.",
    question: "Why did I go home ?",
    choices: ["The store was closed .", "I was tired .", "It rained .", "None of the above ."],
    label: 0,
  };
  for (const max of [256, 20, 12]) {
    const got = encodeChoice(tok, row, max);
    assert.ok(typeof got !== "string");
    const ctx = pyTokenize(row.context);
    row.choices.forEach((answer, k) => {
      // read_examples_origin's ending, then _truncate_seq_pair(context, ending, max - 3).
      const a = [...ctx], b = pyTokenize(row.question + " </s> " + answer);
      while (a.length + b.length > max - 3) (a.length > b.length ? a : b).pop();
      assert.deepEqual(got.sequences[k].ids, [BOS, ...a, EOS, ...b, EOS], `${max} ${k}`);
    });
  }
});

Deno.test("span QA (no released script): question and paragraph as the released tokenizer", () => {
  const row = {
    question: "Where was Barack Obama born ?",
    paragraphs: ["Obama was born in Honolulu , Hawaii .", "He grew up in Jakarta ."],
    answers: ["Honolulu"],
  };
  const got = encodeSpanQa(tok, row, 256, { train: true });
  assert.ok(typeof got !== "string");
  const q = pyTokenize(row.question);
  row.paragraphs.forEach((p, k) => {
    assert.deepEqual(got.sequences[k].ids, [BOS, ...q, EOS, EOS, ...pyTokenize(p), EOS]);
  });
  const first = got.sequences[0];
  assert.equal(tok.idToToken(first.ids[first.values!.start]), "ĠHonolulu");
});

Deno.test("releasedIds: special-token strings kept, pieces stripped of Python whitespace only", () => {
  for (const t of ["a </s> b", "</s>x", "  lead\u00a0", "\ufeffword", "x\x1cy\x1c", "", "  "]) {
    assert.deepEqual(releasedIds(tok, t), pyTokenize(t), JSON.stringify(t));
  }
});
