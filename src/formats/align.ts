// Word-to-subword alignment. @huggingface/tokenizers gives no offsets or word ids, so, as the
// original K-Adapter code does, each word is encoded on its own: the first word bare, later
// words as " word" (the `hf` scheme; a caller's encodeWord gives the released one, see
// tokenization.ts). For words joined by single spaces this equals encoding the joined text
// (the byte-level pre-tokenizer always splits just before such a space). alignParts builds
// the released code's inputs, which encode whole segments between markers.
import type { RobertaTokenizer } from "./tokenizer.ts";

/** A word and whether it is encoded with a leading space (false: glued to the previous). */
export interface Word {
  text: string;
  space: boolean;
}

/** Marker tokens (e.g. "@", "#") before and after words [start, end). */
export interface Mark {
  start: number;
  end: number;
  marker: string;
}

export interface Aligned {
  /** `<s> ... </s>`, markers inserted, truncated to maxLength. */
  ids: number[];
  /** Per word, its [start, end) positions in ids; [-1, -1] when truncated away. */
  wordSpans: [number, number][];
  /** Per position in ids, its word's index; -1 for special and marker tokens. */
  wordIndex: number[];
  /** Per mark, the positions of its opening and closing marker; -1 when truncated away. */
  markPositions: [number, number][];
  /** Tokens dropped by truncation (words and markers). */
  truncated: number;
  /** Marks whose closing marker was dropped, so part of the marked span is missing. */
  cutMarks: number;
}

/**
 * Encodes words (strings: the first bare, the rest after a space) with marks inserted;
 * `encodeWord` replaces the default encoding of one word (its text, after a space or not).
 */
export function alignWords(
  tok: RobertaTokenizer,
  words: (string | Word)[],
  { marks = [], maxLength, encodeWord }: {
    marks?: Mark[];
    maxLength?: number;
    encodeWord?: (w: Word) => number[];
  } = {},
): Aligned {
  const ws = words.map((w, i) => typeof w === "string" ? { text: w, space: i > 0 } : w);
  const n = ws.length;
  for (const m of marks) {
    if (!Number.isInteger(m.start) || !Number.isInteger(m.end) || m.start < 0 || m.end > n) {
      throw new Error(`mark [${m.start}, ${m.end}) is outside the ${n} words`);
    }
    if (m.start >= m.end || m.marker === "") {
      throw new Error(`mark [${m.start}, ${m.end}) '${m.marker}' is empty`);
    }
  }
  const ids = [tok.bosId];
  const wordIndex = [-1];
  const wordSpans: [number, number][] = [];
  const markPositions: [number, number][] = marks.map(() => [-1, -1]);
  const markerLength: number[] = [];
  const emit = (toks: number[], word: number) => {
    ids.push(...toks);
    for (const _ of toks) wordIndex.push(word);
  };
  const marker = (k: number, side: 0 | 1) => {
    markPositions[k][side] = ids.length;
    const toks = tok.encodeText(marks[k].marker);
    markerLength[k] = toks.length;
    emit(toks, -1);
  };
  const order = marks.map((_, k) => k);
  for (let b = 0; b <= n; b++) {
    // Nesting: inner marks close first, outer marks open first.
    order.filter((k) => marks[k].end === b).sort((x, y) => marks[y].start - marks[x].start)
      .forEach((k) => marker(k, 1));
    order.filter((k) => marks[k].start === b).sort((x, y) => marks[y].end - marks[x].end)
      .forEach((k) => marker(k, 0));
    if (b === n) break;
    if (ws[b].text === "") throw new Error(`word ${b} is empty`);
    const toks = encodeWord?.(ws[b]) ?? tok.encodeText((ws[b].space ? " " : "") + ws[b].text);
    wordSpans.push([ids.length, ids.length + toks.length]);
    emit(toks, b);
  }
  // Keep positions [0, limit), then </s>.
  const limit = maxLength === undefined ? ids.length : maxLength - 1;
  if (limit < 1) throw new Error(`maxLength ${maxLength} leaves no room for <s> and </s>`);
  const truncated = Math.max(0, ids.length - limit);
  if (truncated > 0) {
    ids.length = wordIndex.length = limit;
    for (const s of wordSpans) {
      if (s[0] >= limit) s[0] = s[1] = -1;
      else s[1] = Math.min(s[1], limit);
    }
    markPositions.forEach((p, k) => {
      for (const side of [0, 1]) if (p[side] + markerLength[k] > limit) p[side] = -1;
    });
  }
  ids.push(tok.eosId);
  wordIndex.push(-1);
  const cutMarks = markPositions.filter((p) => p[1] === -1).length;
  return { ids, wordSpans, wordIndex, markPositions, truncated, cutMarks };
}

/** A piece of an input: text (encoded by the caller's rule) or a marker's token ids. */
export type Part = { text: string } | { marker: number[] };

/**
 * `<s> parts </s>`, each text part encoded by `encode`, cut to maxLength by dropping tokens
 * from the end (as the released code's _truncate_seq_pair on one segment). `markers`: per
 * marker part, in order, its first position; -1 when truncation dropped any of its tokens.
 */
export function alignParts(
  tok: RobertaTokenizer,
  parts: Part[],
  encode: (text: string) => number[],
  maxLength?: number,
): { ids: number[]; markers: number[]; truncated: number } {
  const ids = [tok.bosId], markers: [number, number][] = [];
  for (const p of parts) {
    if ("marker" in p) markers.push([ids.length, p.marker.length]);
    ids.push(...("marker" in p ? p.marker : encode(p.text)));
  }
  const limit = maxLength === undefined ? ids.length : maxLength - 1;
  if (limit < 1) throw new Error(`maxLength ${maxLength} leaves no room for <s> and </s>`);
  const truncated = Math.max(0, ids.length - limit);
  ids.length = Math.min(ids.length, limit);
  ids.push(tok.eosId);
  return { ids, markers: markers.map(([at, n]) => (at + n > limit ? -1 : at)), truncated };
}

/** Whitespace-separated words of `text` with character offsets, also split at `cuts`. */
export function wordsFromText(
  text: string,
  cuts: number[] = [],
): { words: Word[]; starts: number[]; ends: number[] } {
  const words: Word[] = [], starts: number[] = [], ends: number[] = [];
  for (const m of text.matchAll(/\S+/g)) {
    const end = m.index + m[0].length;
    const inside = [...new Set(cuts)].filter((c) => c > m.index && c < end).sort((a, b) => a - b);
    [m.index, ...inside].forEach((s, i, bounds) => {
      const e = bounds[i + 1] ?? end;
      words.push({ text: text.slice(s, e), space: i === 0 && words.length > 0 });
      starts.push(s);
      ends.push(e);
    });
  }
  return { words, starts, ends };
}

/** The words [start, end) overlapping characters [charStart, charEnd). */
export function charSpanToWords(
  split: { starts: number[]; ends: number[] },
  charStart: number,
  charEnd: number,
): [number, number] {
  const first = split.ends.findIndex((e) => e > charStart);
  const last = split.starts.findLastIndex((s) => s < charEnd);
  if (first === -1 || last < first) {
    throw new Error(`characters [${charStart}, ${charEnd}) cover no word`);
  }
  return [first, last + 1];
}

/** Aligns a sentence with marks given as character spans [start, end), e.g. entity mentions. */
export function alignText(
  tok: RobertaTokenizer,
  text: string,
  spans: Mark[],
  opts: { maxLength?: number } = {},
): Aligned & { words: Word[] } {
  // Span edges become word edges, so a mention inside a word ("U.S.-based") is marked exactly.
  const split = wordsFromText(text, spans.flatMap((s) => [s.start, s.end]));
  const marks = spans.map((s) => {
    const [start, end] = charSpanToWords(split, s.start, s.end);
    return { start, end, marker: s.marker };
  });
  return { ...alignWords(tok, split.words, { ...opts, marks }), words: split.words };
}

/**
 * Dependency labels: heads are 1-based word indices, 0 = root. Each word's first subword gets
 * the position of its head's first subword (root: 0, the `<s>`); all else, and words whose
 * head was truncated away, get `ignore`.
 */
export function alignHeads(a: Aligned, heads: number[], ignore = -100): Int32Array {
  const n = a.wordSpans.length;
  if (heads.length !== n) throw new Error(`${heads.length} heads for ${n} words`);
  const out = new Int32Array(a.ids.length).fill(ignore);
  a.wordSpans.forEach(([s], i) => {
    const h = heads[i];
    if (!Number.isInteger(h) || h < 0 || h > n) {
      throw new Error(`word ${i}: head ${h} not in [0, ${n}]`);
    }
    const target = h === 0 ? 0 : a.wordSpans[h - 1][0];
    if (s >= 0 && target >= 0) out[s] = target;
  });
  return out;
}
