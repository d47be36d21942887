// The documented dataset schemas (reference sections 4 and 6) and their checks. Readers accept
// what Hugging Face `datasets` writes (int64, large_string, large_list); the writer uses the
// narrow types. Every problem names file, row and field, so a bad row in millions is findable.
import { brief, UserError } from "../errors.ts";
import * as A from "apache-arrow";
import { convertHint } from "./convert_hint.ts";

/** facAdapter data: inclusive word indices of subject and object, a Wikidata relation id. */
export interface TrexRow {
  token: string[];
  subj_start: number;
  subj_end: number;
  obj_start: number;
  obj_end: number;
  relation: string;
}

/** linAdapter data: each word's head, 1-based, 0 = root. */
export interface DepRow {
  tokens: string[];
  heads: number[];
}

/** A raw-text corpus for masked-LM training (WikiText as `datasets` exports it). */
export interface TextRow {
  text: string;
}

/**
 * One LAMA cloze query. `masked_sentence` holds exactly one `[MASK]`: for T-REx and Google-RE
 * the relation's template with [X] filled by the subject and [Y] replaced by `[MASK]`; for
 * ConceptNet and SQuAD one of the dataset's masked sentences. `relation` is the predicate id
 * (P19) or dataset relation name (place_of_birth, HasSubevent); `source` the dataset (trex,
 * google-re, conceptnet, squad).
 */
export interface LamaRow {
  relation: string;
  sub_label: string;
  obj_label: string;
  masked_sentence: string;
  source: string;
}

/** The mask marker of LAMA's data; a model's own mask token replaces it at probing time. */
export const LAMA_MASK = "[MASK]";

/**
 * Entity typing (OpenEntity, FIGER): the mention is `text` from character `start` to `end`
 * (end exclusive), counted in Unicode code points as Python's str indexing counts them (the
 * released files were made in Python; for text without characters beyond U+FFFF this equals a
 * JS string index). `labels`: the mention's types, no empty or repeated label; an empty list
 * is a row without gold (predicted, never trained on).
 */
export interface EntityTypingRow {
  text: string;
  start: number;
  end: number;
  labels: string[];
}

/**
 * Relation classification (TACRED): inclusive word indices of subject and object, as in
 * trex-rc; `relation` a label name (`per:city_of_birth`, `org:founded_by`, `no_relation`), or ""
 * for a row without gold (predicted, never trained on).
 */
export interface RelationRow {
  token: string[];
  subj_start: number;
  subj_end: number;
  obj_start: number;
  obj_end: number;
  relation: string;
}

/**
 * Multiple choice (CosmosQA): at least two non-empty `choices`; `label` the 0-based index of
 * the right one, or -1 for a row without gold (predicted, never trained on). `context` may be
 * empty, `question` may not.
 */
export interface MultipleChoiceRow {
  context: string;
  question: string;
  choices: string[];
  label: number;
}

/**
 * Open-domain span QA (SearchQA, Quasar-T): a non-empty `question`, at least one retrieved
 * paragraph, non-empty gold answers; none ([]) for a row without gold (predicted, never
 * trained on). Answers are not required to occur in a
 * paragraph (retrieval can miss them); training finds the spans.
 */
export interface SpanQaRow {
  question: string;
  paragraphs: string[];
  answers: string[];
}

export interface Rows {
  "trex-rc": TrexRow;
  dependency: DepRow;
  text: TextRow;
  lama: LamaRow;
  "entity-typing": EntityTypingRow;
  relation: RelationRow;
  "multiple-choice": MultipleChoiceRow;
  "span-qa": SpanQaRow;
}
export type SchemaName = keyof Rows;

type Kind = "string" | "int" | "list<string>" | "list<int>";
const COLUMNS: { [S in SchemaName]: Record<keyof Rows[S], Kind> } = {
  "trex-rc": {
    token: "list<string>",
    subj_start: "int",
    subj_end: "int",
    obj_start: "int",
    obj_end: "int",
    relation: "string",
  },
  dependency: { tokens: "list<string>", heads: "list<int>" },
  text: { text: "string" },
  lama: {
    relation: "string",
    sub_label: "string",
    obj_label: "string",
    masked_sentence: "string",
    source: "string",
  },
  "entity-typing": { text: "string", start: "int", end: "int", labels: "list<string>" },
  relation: {
    token: "list<string>",
    subj_start: "int",
    subj_end: "int",
    obj_start: "int",
    obj_end: "int",
    relation: "string",
  },
  "multiple-choice": {
    context: "string",
    question: "string",
    choices: "list<string>",
    label: "int",
  },
  "span-qa": { question: "string", paragraphs: "list<string>", answers: "list<string>" },
};

const utf8 = () => new A.Utf8();
const list = (t: A.DataType) => new A.List(new A.Field("item", t, true));
const ARROW_TYPE: Record<Kind, () => A.DataType> = {
  string: utf8,
  int: () => new A.Int32(),
  "list<string>": () => list(utf8()),
  "list<int>": () => list(new A.Int32()),
};

/** The Arrow schema the writer uses for `name`. */
export function arrowSchema(name: SchemaName): A.Schema {
  return new A.Schema(
    Object.entries(COLUMNS[name]).map(([f, k]) => new A.Field(f, ARROW_TYPE[k as Kind](), false)),
  );
}

/** A schema or value problem, located as "<file>: <where>, field <field>: <detail>". */
export class DataError extends UserError {
  constructor(
    readonly file: string,
    readonly at: string,
    readonly field: string,
    readonly reason: string,
    detail: string,
  ) {
    super(`${file}: ${at}, field ${field}: ${detail}`);
  }
}

/** What is wrong with one row; `reason` is the short key --skip-bad counts by. */
export interface Problem {
  field: string;
  reason: string;
  detail: string;
}

const isString = (t: A.DataType) => A.DataType.isUtf8(t) || A.DataType.isLargeUtf8(t);
const isList = (t: A.DataType) => A.DataType.isList(t) || A.DataType.isLargeList(t);
const MATCHES: Record<Kind, (t: A.DataType) => boolean> = {
  string: isString,
  int: (t) => A.DataType.isInt(t),
  "list<string>": (t) => isList(t) && isString(t.children[0].type),
  "list<int>": (t) => isList(t) && A.DataType.isInt(t.children[0].type),
};

const fits = (schema: A.Schema, name: SchemaName) =>
  (Object.entries(COLUMNS[name]) as [string, Kind][]).every(([field, kind]) => {
    const f = schema.fields.find((f) => f.name === field);
    return f !== undefined && MATCHES[kind](f.type);
  });

/** Throws a DataError for a missing column or one of the wrong type; extra columns are fine. */
export function checkSchema(schema: A.Schema, name: SchemaName, file: string): void {
  const fail = (field: string, reason: string, detail: string): never => {
    const has = (Object.keys(COLUMNS) as SchemaName[]).filter((n) => fits(schema, n));
    const what = has.length > 0 ? `: the file holds the ${has.join(" or ")} schema` : "";
    const want = `${what}, not ${name} (${Object.keys(COLUMNS[name]).join(", ")})`;
    throw new DataError(file, "schema", field, reason, `${detail}${want}; ${convertHint(name)}`);
  };
  for (const [field, kind] of Object.entries(COLUMNS[name]) as [string, Kind][]) {
    const f = schema.fields.find((f) => f.name === field);
    if (!f) fail(field, "missing column", `missing ${kind} column`);
    else if (!MATCHES[kind](f.type)) fail(field, "wrong type", `is ${f.type}, expected ${kind}`);
  }
}

const isInt = (v: unknown): v is number => Number.isSafeInteger(v);
const isStrings = (v: unknown): v is string[] =>
  Array.isArray(v) && v.every((s) => typeof s === "string");

function typeProblem(row: Record<string, unknown>, name: SchemaName): Problem | null {
  for (const [field, kind] of Object.entries(COLUMNS[name]) as [string, Kind][]) {
    const v = row[field];
    if (v === undefined || v === null) {
      return { field, reason: `${field} missing`, detail: `missing (expected ${kind})` };
    }
    const ok = kind === "string"
      ? typeof v === "string"
      : kind === "int"
      ? isInt(v)
      : kind === "list<string>"
      ? isStrings(v)
      : Array.isArray(v) && v.every(isInt);
    if (!ok) {
      return {
        field,
        reason: `${field} wrong type`,
        detail: `${brief(v)} is not ${kind}`,
      };
    }
  }
  return null;
}

/** The first problem of a T-REx-rc row (types, empty sentence, spans outside the words). */
export function trexProblem(row: Record<string, unknown>): Problem | null {
  const bad = typeProblem(row, "trex-rc");
  if (bad) return bad;
  const r = row as unknown as TrexRow, n = r.token.length;
  if (n === 0) return { field: "token", reason: "token empty", detail: "no words" };
  if (r.relation === "") {
    return { field: "relation", reason: "relation empty", detail: "empty relation" };
  }
  for (const span of ["subj", "obj"] as const) {
    const s = r[`${span}_start`], e = r[`${span}_end`];
    if (s < 0 || s >= n) return outOfRange(`${span}_start`, s, `[0, ${n - 1}]`);
    if (e < s || e >= n) return outOfRange(`${span}_end`, e, `[${s}, ${n - 1}]`);
  }
  return null;
}

/** The first problem of a dependency row (types, lengths, heads outside 0..n). */
export function depProblem(row: Record<string, unknown>): Problem | null {
  const bad = typeProblem(row, "dependency");
  if (bad) return bad;
  const r = row as unknown as DepRow, n = r.tokens.length;
  if (n === 0) return { field: "tokens", reason: "tokens empty", detail: "no words" };
  if (r.heads.length !== n) {
    return {
      field: "heads",
      reason: "heads length != tokens length",
      detail: `${r.heads.length} heads for ${n} tokens`,
    };
  }
  const i = r.heads.findIndex((h) => h < 0 || h > n);
  return i < 0 ? null : outOfRange(`heads[${i}]`, r.heads[i], `[0, ${n}]`, "heads");
}

/** The first problem of a text row: only its type (empty lines are allowed, as in WikiText). */
export function textProblem(row: Record<string, unknown>): Problem | null {
  return typeProblem(row, "text");
}

/** The first problem of a LAMA row (types, empty relation or object, not exactly one [MASK]). */
export function lamaProblem(row: Record<string, unknown>): Problem | null {
  const bad = typeProblem(row, "lama");
  if (bad) return bad;
  const r = row as unknown as LamaRow;
  for (const field of ["relation", "obj_label", "source"] as const) {
    if (r[field].trim() === "") {
      return { field, reason: `${field} empty`, detail: "empty" };
    }
  }
  const masks = r.masked_sentence.split(LAMA_MASK).length - 1;
  if (masks !== 1) {
    return {
      field: "masked_sentence",
      reason: masks === 0 ? "no [MASK]" : "several [MASK]",
      detail: `${JSON.stringify(r.masked_sentence)} has ${masks} [MASK], expected 1`,
    };
  }
  return null;
}

/** The first problem of an entity-typing row (types, mention outside the text, labels). */
export function entityTypingProblem(row: Record<string, unknown>): Problem | null {
  const bad = typeProblem(row, "entity-typing");
  if (bad) return bad;
  const r = row as unknown as EntityTypingRow;
  // Code points, as Python counts them; the spread is only needed past the BMP.
  const n = /[\uD800-\uDFFF]/.test(r.text) ? [...r.text].length : r.text.length;
  if (n === 0) return { field: "text", reason: "text empty", detail: "empty text" };
  if (r.start < 0 || r.start >= n) return outOfRange("start", r.start, `[0, ${n - 1}]`);
  if (r.end <= r.start || r.end > n) return outOfRange("end", r.end, `[${r.start + 1}, ${n}]`);
  return r.labels.length === 0 ? null : labelsProblem("labels", r.labels);
}

/**
 * The first problem of a relation row: the trex-rc checks, under the relation schema; an empty
 * `relation` is a row without gold (unlabelled data, for predict).
 */
export function relationProblem(row: Record<string, unknown>): Problem | null {
  return typeProblem(row, "relation") ??
    trexProblem(row.relation === "" ? { ...row, relation: "(none)" } : row);
}

/** The first problem of a multiple-choice row (types, empty question, < 2 choices, label). */
export function multipleChoiceProblem(row: Record<string, unknown>): Problem | null {
  const bad = typeProblem(row, "multiple-choice");
  if (bad) return bad;
  const r = row as unknown as MultipleChoiceRow, n = r.choices.length;
  if (r.question.trim() === "") {
    return { field: "question", reason: "question empty", detail: "empty question" };
  }
  if (n < 2) {
    return { field: "choices", reason: "fewer than 2 choices", detail: `${n} choices` };
  }
  const i = r.choices.findIndex((c) => c.trim() === "");
  if (i >= 0) {
    return { field: `choices[${i}]`, reason: "choice empty", detail: "empty choice" };
  }
  if (r.label === -1) return null; // no gold: for predict
  return r.label < 0 || r.label >= n ? outOfRange("label", r.label, `[0, ${n - 1}]`) : null;
}

/** The first problem of a span-QA row (types, empty question, no paragraph, empty answer). */
export function spanQaProblem(row: Record<string, unknown>): Problem | null {
  const bad = typeProblem(row, "span-qa");
  if (bad) return bad;
  const r = row as unknown as SpanQaRow;
  if (r.question.trim() === "") {
    return { field: "question", reason: "question empty", detail: "empty question" };
  }
  if (r.paragraphs.length === 0) {
    return { field: "paragraphs", reason: "paragraphs empty", detail: "no paragraph" };
  }
  const i = r.answers.findIndex((a) => a.trim() === "");
  return i < 0 ? null : { field: `answers[${i}]`, reason: "answer empty", detail: "empty answer" };
}

// A non-empty list of non-empty, distinct labels.
function labelsProblem(field: string, labels: string[]): Problem | null {
  if (labels.length === 0) return { field, reason: `${field} empty`, detail: "no label" };
  const seen = new Set<string>();
  for (const [i, l] of labels.entries()) {
    if (l.trim() === "") {
      return { field: `${field}[${i}]`, reason: "label empty", detail: "empty label" };
    }
    if (seen.has(l)) {
      return {
        field: `${field}[${i}]`,
        reason: "label repeated",
        detail: `${JSON.stringify(l)} again`,
      };
    }
    seen.add(l);
  }
  return null;
}

function outOfRange(field: string, v: number, range: string, key = field): Problem {
  return { field, reason: `${key} out of range`, detail: `${v} is outside ${range}` };
}

// trex-rc and relation have the same columns; TACRED's labels tell relation data apart.
function notTacred(row: Record<string, unknown>): Problem | null {
  if (!/^(per|org):|^no_relation$/.test(String(row.relation))) return null;
  const detail = `${JSON.stringify(row.relation)} is a TACRED label: this is relation-schema ` +
    `data (finetune relation), not trex-rc (Wikidata ids, P19); ${convertHint("trex-rc")}`;
  return { field: "relation", reason: "TACRED relation", detail };
}

export const PROBLEM: { [S in SchemaName]: (row: Record<string, unknown>) => Problem | null } = {
  "trex-rc": (row) => trexProblem(row) ?? notTacred(row),
  dependency: depProblem,
  text: textProblem,
  lama: lamaProblem,
  "entity-typing": entityTypingProblem,
  relation: relationProblem,
  "multiple-choice": multipleChoiceProblem,
  "span-qa": spanQaProblem,
};
