// RoBERTa tokenizer: the GPT-2 BPE build (checked against gpt-3-encoder's own BPE), special
// tokens, truncation, padding, file errors.
import assert from "node:assert/strict";
import { join } from "node:path";
import { encode as gpt2Encode } from "gpt-3-encoder";
import {
  buildRobertaTokenizer,
  loadGpt2Bpe,
  writeRobertaTokenizer,
} from "../../src/formats/bpe_vocab.ts";
import { padSequences, RobertaTokenizer, TokenizerError } from "../../src/formats/tokenizer.ts";
import { UserError } from "../../src/errors.ts";

const bpe = await loadGpt2Bpe();
const fullFiles = buildRobertaTokenizer(bpe);
const full = new RobertaTokenizer(fullFiles.tokenizer, fullFiles.config);
const K = 2000;
const smallFiles = buildRobertaTokenizer(bpe, { merges: K });
const small = new RobertaTokenizer(smallFiles.tokenizer, smallFiles.config);

const SAMPLES = [
  "Hello world",
  " Hello world",
  "I don't think they'll come, said O'Neil in 1998.",
  "K-Adapter: infusing knowledge   into RoBERTa (Wang et al., 2020)!",
  "Zürich, São Paulo and 東京 😀\ttabs\nnewlines",
];

/** GPT-2's BPE on one pre-token, merging the lowest-ranked pair until none applies. */
function referenceBpe(word: string, ranks: Map<string, number>): string[] {
  const parts = [...word];
  for (;;) {
    let best = -1;
    for (let i = 0; i + 1 < parts.length; i++) {
      const r = ranks.get(parts[i] + " " + parts[i + 1]);
      if (r !== undefined && (best < 0 || r < ranks.get(parts[best] + " " + parts[best + 1])!)) {
        best = i;
      }
    }
    if (best < 0) return parts;
    parts.splice(best, 2, parts[best] + parts[best + 1]);
  }
}

Deno.test("full build reproduces GPT-2's BPE (gpt-3-encoder), ids shifted by the 4 specials", () => {
  for (const text of SAMPLES) {
    assert.deepEqual(full.encodeText(text).map((i) => i - 4), gpt2Encode(text), text);
  }
});

Deno.test("full build has RoBERTa's size, special ids and token strings", () => {
  assert.equal(full.vocabSize, 50265);
  assert.deepEqual(
    [full.bosId, full.padId, full.eosId, full.unkId, full.maskId],
    [0, 1, 2, 3, 50264],
  );
  assert.equal(full.idToToken(50261), "madeupword0000");
  assert.equal(full.tokenToId("<mask>"), 50264);
  // RobertaTokenizer's docstring: "Hello world" -> Hello, Ġworld; " Hello world" -> ĠHello, Ġworld.
  assert.deepEqual(full.tokenize("Hello world"), ["Hello", "Ġworld"]);
  assert.deepEqual(full.tokenize(" Hello world"), ["ĠHello", "Ġworld"]);
});

Deno.test("reduced build: bytes + first K merges, <mask> last, same BPE as K merges", () => {
  assert.equal(small.vocabSize, 4 + 256 + K + 1);
  assert.equal(small.maskId, small.vocabSize - 1);
  assert.equal(small.idToToken(4), "!");
  const ranks = new Map(bpe.merges.slice(0, K).map(([a, b], i) => [`${a} ${b}`, i]));
  for (const text of SAMPLES) {
    const ids = small.encodeText(text);
    assert.ok(ids.every((i) => i > 3 && i < small.maskId), text);
    // Each full-vocab pre-token, re-merged with only K merges, gives the reduced tokens.
    const preTokens = text.match(
      /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu,
    )!
      .map((p) => full.tokenize(p).join(""));
    assert.deepEqual(small.tokenize(text), preTokens.flatMap((p) => referenceBpe(p, ranks)), text);
    assert.equal(small.decode(ids), text);
  }
});

Deno.test("words: single tokens bare and after a space; other text unchanged; plain BPE", () => {
  const words = ["Haria", "Talport", "Belford", "Bel", "the", "Zürich"];
  const files = buildRobertaTokenizer(bpe, { merges: K, words });
  const tok = new RobertaTokenizer(files.tokenizer, files.config);
  for (const w of words) {
    assert.equal(tok.tokenize(w).length, 1, w);
    assert.equal(tok.tokenize(` ${w}`).length, 1, ` ${w}`);
  }
  // New tokens sit between GPT-2's and <mask>; no id is used twice.
  const model = files.tokenizer.model as { vocab: Record<string, number>; merges: string[] };
  const ids = Object.values(model.vocab);
  assert.equal(new Set(ids).size, ids.length);
  assert.equal(tok.vocabSize, ids.length); // <mask> included
  assert.equal(tok.maskId, tok.vocabSize - 1);
  assert.ok(tok.vocabSize > small.vocabSize && tok.tokenToId("ĠHaria")! > small.maskId);
  // Text without the words' pieces side by side encodes as before (same ids).
  for (const text of SAMPLES.filter((t) => !t.includes("Zürich"))) {
    assert.deepEqual(tok.encodeText(text), small.encodeText(text), text);
  }
  // And every text is plain BPE over the file's merge list (GPT-2's, then the words').
  const ranks = new Map(model.merges.map((m, i) => [m, i]));
  for (
    const text of ["Haria borders Talport near Belfordia and Zürich .", "Belford, Bel, Harian"]
  ) {
    const preTokens = text.match(/ ?\p{L}+| ?[^\s\p{L}\p{N}]+/gu)!.map((p) =>
      full.tokenize(p).join("")
    );
    assert.deepEqual(tok.tokenize(text), preTokens.flatMap((p) => referenceBpe(p, ranks)), text);
  }
  assert.throws(
    () => buildRobertaTokenizer(bpe, { merges: K, words: ["O'Neil"] }),
    /one pre-token/,
  );
});

Deno.test("special tokens: single, pair, three segments; <mask> strips the space before it", () => {
  const a = full.encodeText("Hello world"), b = full.encodeText("Bye");
  assert.deepEqual(full.encode("Hello world").ids, [0, ...a, 2]);
  assert.deepEqual(full.encode(["Hello world", "Bye"]).ids, [0, ...a, 2, 2, ...b, 2]);
  assert.deepEqual(full.encode(["Hello world", "Bye", "Bye"]).ids, [
    0,
    ...a,
    2,
    2,
    ...b,
    2,
    2,
    ...b,
    2,
  ]);
  assert.deepEqual(full.tokenize("capital of <mask>."), ["capital", "Ġof", "<mask>", "."]);
  assert.equal(full.decode(full.encode(["Hello world", "Bye"]).ids, true), "Hello worldBye");
});

Deno.test("truncation: longest_first (ties from the later segment), only_last", () => {
  const a = full.encodeText(" a b c d e f"), b = full.encodeText(" u v w");
  assert.deepEqual([a.length, b.length], [6, 3]);
  const pair = [" a b c d e f", " u v w"];
  // Budget 10 - 4 specials = 6 tokens: a loses 3 (6 -> 3), then tied 3/3: no more needed.
  let r = full.encode(pair, { maxLength: 10 });
  assert.deepEqual(r.ids, [0, ...a.slice(0, 3), 2, 2, ...b, 2]);
  assert.equal(r.truncated, 3);
  // Budget 5: a to 3, then the tie goes to b.
  r = full.encode(pair, { maxLength: 9 });
  assert.deepEqual(r.ids, [0, ...a.slice(0, 3), 2, 2, ...b.slice(0, 2), 2]);
  r = full.encode(pair, { maxLength: 11, truncation: "only_last" });
  assert.deepEqual(r.ids, [0, ...a, 2, 2, b[0], 2]);
  assert.throws(() => full.encode(pair, { maxLength: 9, truncation: "only_last" }), /exceed/);
  assert.throws(() => full.encode(pair, { maxLength: 3 }), /no room/);
  assert.deepEqual(full.encode(" a b c d e f", { maxLength: 4 }).ids, [0, ...a.slice(0, 2), 2]);
  assert.equal(full.encode(pair, { maxLength: 13 }).truncated, 0);
});

Deno.test("batch: Int32Array ids and mask, padded to the longest or to maxLength", () => {
  const batch = full.encodeBatch(["Hello world", ["Hi", "there"]]);
  assert.equal(batch.seqLen, 6);
  assert.deepEqual([...batch.inputIds], [
    ...[0, ...full.encodeText("Hello world"), 2, 1, 1],
    ...[0, ...full.encodeText("Hi"), 2, 2, ...full.encodeText("there"), 2],
  ]);
  assert.deepEqual([...batch.attentionMask], [1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1]);
  const fixed = full.encodeBatch(["Hello world", "a b c d e f g"], {
    maxLength: 5,
    padding: "max_length",
  });
  assert.equal(fixed.inputIds.length, 10);
  assert.deepEqual(fixed.truncated, [0, 4]);
  assert.deepEqual([...fixed.attentionMask], [1, 1, 1, 1, 0, 1, 1, 1, 1, 1]);
  assert.throws(() => full.padBatch([[0, 2]], { padding: "max_length" }), /needs maxLength/);
  assert.deepEqual([...padSequences([[5], [6, 7]], 3, -100)], [5, -100, -100, 6, 7, -100]);
});

Deno.test("files: written folder loads; missing and malformed files name the path", async () => {
  const dir = await Deno.makeTempDir();
  try {
    assert.equal(await writeRobertaTokenizer(dir, { merges: 100, maxLength: 64 }), 361);
    const tok = await RobertaTokenizer.fromFolder(dir);
    assert.equal(tok.modelMaxLength, 64);
    assert.equal(tok.decode(tok.encode("Hello world").ids, true), "Hello world");

    const path = join(dir, "tokenizer.json");
    // Without tokenizer_config.json; with mask_token as an AddedToken dict.
    const json = JSON.parse(await Deno.readTextFile(path));
    await Deno.remove(join(dir, "tokenizer_config.json"));
    assert.equal((await RobertaTokenizer.fromFile(path)).maskId, 360);
    assert.equal(new RobertaTokenizer(json, { mask_token: { content: "<mask>" } }).maskId, 360);
    // Hugging Face's "no limit" sentinel; a limit that is no length; a token that is no string.
    assert.equal(new RobertaTokenizer(json, { model_max_length: 1e30 }).modelMaxLength, undefined);
    for (
      const [config, said] of [
        [
          { model_max_length: 0.5 },
          /tokenizer_config.json: model_max_length must be an integer of at least 2, got 0.5/,
        ],
        [{ model_max_length: [] }, /model_max_length must be/],
        [{ mask_token: 0.5 }, /tokenizer_config.json: mask_token must be a token string/],
        [{ unk_token: { content: 7 } }, /unk_token must be a token string/],
      ] as const
    ) {
      assert.throws(
        () => new RobertaTokenizer(json, config, path),
        (e: Error) => e instanceof TokenizerError && said.test(e.message),
      );
    }

    const missing = join(dir, "nope", "tokenizer.json");
    await assert.rejects(
      RobertaTokenizer.fromFile(missing),
      (e: Error) => e.message.includes(missing),
    );
    await Deno.writeTextFile(path, "{ not json");
    await assert.rejects(RobertaTokenizer.fromFile(path), new RegExp(`${path}: malformed JSON`));
    await Deno.writeTextFile(path, "[1, 2]");
    await assert.rejects(RobertaTokenizer.fromFile(path), /not a tokenizer.json/);
    await Deno.writeTextFile(path, JSON.stringify({ ...json, added_tokens: undefined }));
    await assert.rejects(RobertaTokenizer.fromFile(path), /"added_tokens" must be an array/);
    await Deno.writeTextFile(
      path,
      JSON.stringify({ ...json, model: { ...json.model, merges: null } }),
    );
    await assert.rejects(RobertaTokenizer.fromFile(path), /model.merges must be a list/);
    // Structures the library would take or fail on with its own trace are refused by name.
    const broken: [unknown, RegExp][] = [
      [{ ...json.model, type: "WordPiece" }, /model.type must be "BPE".*got "WordPiece"/],
      [{ ...json.model, vocab: {} }, /model.vocab is empty/],
      [
        { ...json.model, vocab: { ...json.model.vocab, "a": "7" } },
        /model.vocab\["a"\] must be an integer id/,
      ],
      [{ ...json.model, vocab: { ...json.model.vocab, "": 3 } }, /empty token/],
      [
        { ...json.model, vocab: { ...json.model.vocab, "b": 2 ** 40 } },
        /integer id in \[0, 16777216\)/,
      ],
      [{ ...json.model, merges: ["a b c"] }, /model.merges\[0\] must be "a b" or \["a", "b"\]/],
      [{ ...json.model, merges: [["a", 7]] }, /model.merges\[0\]/],
    ];
    for (const [model, expected] of broken) {
      await Deno.writeTextFile(path, JSON.stringify({ ...json, model }));
      await assert.rejects(
        RobertaTokenizer.fromFile(path),
        (e: Error) =>
          e instanceof TokenizerError && e instanceof UserError && expected.test(e.message),
        String(expected),
      );
    }
    await Deno.writeTextFile(path, JSON.stringify({ ...json, added_tokens: [{ id: "1" }] }));
    await assert.rejects(
      RobertaTokenizer.fromFile(path),
      /added_tokens\[0\] must be \{id, content/,
    );
    const noPad = {
      ...json,
      added_tokens: json.added_tokens.filter((t: { id: number }) => t.id !== 1),
    };
    delete noPad.model.vocab["<pad>"];
    await Deno.writeTextFile(path, JSON.stringify(noPad));
    await assert.rejects(
      RobertaTokenizer.fromFile(path),
      /pad_token '<pad>' is not in the vocabulary/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
