// LAMA's probe data (github.com/facebookresearch/LAMA) to the `lama` schema, one row per cloze
// query. T-REx and Google-RE facts go through their relation's template from relations.jsonl
// ([X] filled by the subject, [Y] replaced by [MASK]) and are de-duplicated by (relation,
// subject, object); T-REx evidences are not used. Google-RE facts whose "no" judgments
// outnumber the "yes" ones are left out, as LAMA does (any judgment but "yes" counts as no).
// ConceptNet and SQuAD give one row per masked sentence. Rows left out by design are counted
// by reason; problems name file, line and field.
import { DataError, LAMA_MASK, type Problem } from "../schemas.ts";
import { type Item, jsonObjects, type ReadOptions } from "./source.ts";
import { join } from "node:path";

/** A relation's template, e.g. "[X] was born in [Y] .". */
export interface Relation {
  relation: string;
  template: string;
}

const count = (s: string, part: string) => s.split(part).length - 1;

/**
 * relations.jsonl: `relation` and `template` (one [X], one [Y]) per line, other fields
 * ignored. Any problem throws a DataError: the templates are configuration, not data.
 */
export async function readRelations(path: string): Promise<Map<string, Relation>> {
  const out = new Map<string, Relation>();
  for await (const item of jsonObjects(path)) {
    const fail = (p: Problem): never => {
      throw new DataError(path, item.at, p.field, p.reason, p.detail);
    };
    if (!("row" in item)) fail((item as { problem: Problem }).problem);
    const r = (item as { row: Record<string, unknown> }).row;
    for (const field of ["relation", "template"]) {
      if (typeof r[field] !== "string" || r[field] === "") {
        fail({ field, reason: `${field} missing`, detail: "missing or not a non-empty string" });
      }
    }
    const relation = r.relation as string, template = r.template as string;
    for (const slot of ["[X]", "[Y]"]) {
      if (count(template, slot) !== 1) {
        fail({
          field: "template",
          reason: `template not one ${slot}`,
          detail: `${JSON.stringify(template)} has ${count(template, slot)} ${slot}, expected 1`,
        });
      }
    }
    if (out.has(relation)) {
      fail({ field: "relation", reason: "duplicate relation", detail: `${relation} again` });
    }
    out.set(relation, { relation, template });
  }
  return out;
}

/** The template with [X] filled by the subject and [Y] replaced by [MASK]. */
export function fillTemplate(template: string, subject: string): string {
  // Function replacements: a subject with "$&" in it stays literal.
  return template.replace("[X]", () => subject).replace("[Y]", () => LAMA_MASK);
}

/** The .jsonl files of a folder (sorted, so output order is stable), or the file itself. */
async function sourceFiles(path: string): Promise<string[]> {
  if ((await Deno.stat(path)).isFile) return [path];
  const names: string[] = [];
  for await (const e of Deno.readDir(path)) {
    if (e.isFile && e.name.endsWith(".jsonl")) names.push(e.name);
  }
  if (names.length === 0) throw new Error(`${path}: no .jsonl files in the folder`);
  return names.sort().map((n) => join(path, n));
}

async function* objectsOf(path: string): AsyncGenerator<Item> {
  const files = await sourceFiles(path);
  for (const file of files) {
    for await (const item of jsonObjects(file)) yield { ...item, file };
  }
}

function needRelations(opts: ReadOptions, format: string): string {
  if (!opts.relations) {
    throw new Error(`${format} needs the relation templates (relations.jsonl, --relations)`);
  }
  return opts.relations;
}

interface Fact {
  relation: unknown;
  sub: unknown;
  obj: unknown;
  /** A reason to leave the fact out by design (Google-RE judgments), or a problem. */
  drop?: string;
  problem?: Problem;
}

/** Template-based facts to rows: template lookup, de-duplication, the row's own checks. */
async function* templated(
  path: string,
  opts: ReadOptions,
  format: string,
  source: string,
  fact: (r: Record<string, unknown>) => Fact,
): AsyncGenerator<Item> {
  const relations = await readRelations(needRelations(opts, format));
  const seen = new Set<string>();
  for await (const item of objectsOf(path)) {
    if (!("row" in item)) {
      yield item;
      continue;
    }
    const { at, file } = item;
    const f = fact(item.row);
    if (f.problem) {
      yield { at, file, problem: f.problem };
      continue;
    }
    if (f.drop) {
      yield { at, file, dropped: f.drop };
      continue;
    }
    const row = { relation: f.relation, sub_label: f.sub, obj_label: f.obj, source };
    if (typeof f.relation !== "string" || typeof f.sub !== "string") {
      yield { at, file, row }; // the schema check names the missing or mistyped field
      continue;
    }
    const rel = relations.get(f.relation);
    if (!rel) {
      yield {
        at,
        file,
        problem: {
          field: "relation",
          reason: "no template for relation",
          detail: `${JSON.stringify(f.relation)} is not in ${opts.relations}`,
        },
      };
      continue;
    }
    if (typeof f.obj === "string") {
      const key = JSON.stringify([f.relation, f.sub, f.obj]);
      if (seen.has(key)) {
        yield { at, file, dropped: "duplicate (relation, subject, object)" };
        continue;
      }
      seen.add(key);
    }
    yield { at, file, row: { ...row, masked_sentence: fillTemplate(rel.template, f.sub) } };
  }
}

/**
 * LAMA T-REx: per-relation jsonl (`sub_label`, `obj_label`, `predicate_id`), a folder of them
 * or one file; also the bundled world's facts.jsonl (`subject`, `relation`, `object`).
 */
export function lamaTrex(path: string, opts: ReadOptions = {}): AsyncGenerator<Item> {
  return templated(path, opts, "lama-trex", opts.source ?? "trex", (r) => ({
    relation: r.predicate_id ?? r.relation,
    sub: r.sub_label ?? r.subject,
    obj: r.obj_label ?? r.object,
  }));
}

/** LAMA Google-RE: `pred` (/people/person/place_of_birth), `sub_label`, `obj_label`, judgments. */
export function lamaGoogleRe(path: string, opts: ReadOptions = {}): AsyncGenerator<Item> {
  return templated(path, opts, "lama-google-re", opts.source ?? "google-re", (r) => {
    const pred = r.pred;
    const fact: Fact = {
      relation: typeof pred === "string" ? pred.split("/").pop() : pred,
      sub: r.sub_label,
      obj: r.obj_label,
    };
    const judgments = r.judgments ?? [];
    if (!Array.isArray(judgments) || judgments.some((j) => j === null || typeof j !== "object")) {
      fact.problem = {
        field: "judgments",
        reason: "judgments wrong type",
        detail: "not a list of {judgment} objects",
      };
      return fact;
    }
    const yes = judgments.filter((j) => j.judgment === "yes").length;
    if (judgments.length - yes > yes) fact.drop = "judgments: more no than yes";
    return fact;
  });
}

/**
 * LAMA ConceptNet and SQuAD: `masked_sentences` (a list), `obj_label`, and when present
 * `sub_label` (or `sub`) and `pred`; one row per masked sentence. The relation is `pred`, or
 * the source name when there is none (SQuAD); the source is opts.source or "conceptnet".
 */
export async function* lamaMasked(path: string, opts: ReadOptions = {}): AsyncGenerator<Item> {
  const source = opts.source ?? "conceptnet";
  for await (const item of objectsOf(path)) {
    if (!("row" in item)) {
      yield item;
      continue;
    }
    const { at, file, row: r } = item;
    const sentences = r.masked_sentences;
    if (!Array.isArray(sentences) || sentences.length === 0) {
      yield {
        at,
        file,
        problem: {
          field: "masked_sentences",
          reason: "masked_sentences missing",
          detail: "missing or not a non-empty list",
        },
      };
      continue;
    }
    const base = {
      relation: r.pred ?? source,
      sub_label: r.sub_label ?? r.sub ?? "",
      obj_label: r.obj_label,
      source,
    };
    for (let i = 0; i < sentences.length; i++) {
      yield {
        at: `${at} (masked_sentences[${i}])`,
        file,
        row: { ...base, masked_sentence: sentences[i] },
      };
    }
  }
}
