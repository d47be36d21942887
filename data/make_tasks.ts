// Regenerates data/tasks/: small samples of the four downstream task types (entity typing,
// relation classification, multiple choice, span QA), written in their Arrow schemas, about the
// invented world of make_world.ts (same entities, facts that agree with data/world/facts.jsonl).
// Each example carries in its own text what decides its answer, so a tiny model can learn it.
// Seeded: the output is the same on every run.
//
//   deno run --allow-read --allow-write data/make_tasks.ts
import { writeArrow } from "../src/formats/arrow_write.ts";
import type {
  EntityTypingRow,
  MultipleChoiceRow,
  RelationRow,
  Rows,
  SchemaName,
  SpanQaRow,
} from "../src/formats/schemas.ts";
import { Rng } from "../src/nn/init.ts";
import { makeWorld } from "./make_world.ts";

/** Rows per split; dev rows never repeat a train row. */
export const SIZES = {
  entity_typing: { train: 600, dev: 150 },
  relation: { train: 600, dev: 150 },
  multiple_choice: { train: 600, dev: 150 },
  span_qa: { train: 400, dev: 100 },
} as const;

/** The entity-typing labels: coarse kinds and finer types. */
export const ENTITY_LABELS = [
  "person",
  "artist",
  "founder",
  "location",
  "city",
  "capital",
  "country",
  "organization",
  "company",
  "alliance",
  "language",
];

/** The relation labels, TACRED's names; `no_relation` for pairs the sentence does not relate. */
export const RELATION_LABELS = [
  "per:city_of_birth",
  "per:origin",
  "per:employee_of",
  "per:title",
  "org:founded_by",
  "org:city_of_headquarters",
  "org:country_of_headquarters",
  "no_relation",
];

const ARTS = new Set(["painter", "poet", "composer", "architect"]);

/** The world's entities and their facts, read back from makeWorld()'s fact list. */
function entities() {
  const { facts } = makeWorld();
  const of = (relation: string) => {
    const m = new Map<string, string>();
    for (const f of facts) if (f.relation === relation) m.set(f.subject, f.object);
    return m;
  };
  const birth = of("P19"), citizen = of("P27"), employer = of("P108"), job = of("P106");
  const hq = of("P159"), capital = of("P36"), official = of("P37"), member = of("P463");
  const country = of("P17"), foundedBy = of("P112");
  const founded = new Map([...foundedBy].map(([company, person]) => [person, company]));
  const people = [...birth.keys()], companies = [...hq.keys()], countries = [...capital.keys()];
  const cities = [...country.keys()].filter((c) => !hq.has(c));
  const capitals = new Set(capital.values());
  const languages = [...official.values()], alliances = [...new Set(member.values())];
  const occupations = [...new Set(job.values())].sort();
  return {
    people,
    companies,
    countries,
    cities,
    languages,
    alliances,
    occupations,
    birth,
    citizen,
    employer,
    job,
    hq,
    capital,
    official,
    member,
    country,
    foundedBy,
    founded,
    capitals,
  };
}
type World = ReturnType<typeof entities>;

/** All four tasks' splits from `seed`. */
export function makeTasks(seed = 20240602) {
  const w = entities(), rng = new Rng(seed), ctx = makeCtx(w, rng);
  const entity_typing = split(SIZES.entity_typing, () => entityTyping(ctx));
  const relations = split(SIZES.relation, () => relation(ctx));
  // Multiple choice has a stream of its own; this one skips the draws its former generator
  // took here, so the span QA rows stay as they were.
  const choiceCtx = makeCtx(w, new Rng(seed + 3));
  const multiple_choice = split(SIZES.multiple_choice, () => multipleChoice(choiceCtx));
  for (let i = 0; i < 10897; i++) rng.next();
  const span_qa = split(SIZES.span_qa, () => spanQa(ctx));
  return { entity_typing, relation: relations, multiple_choice, span_qa };
}

function makeCtx(w: World, rng: Rng): Ctx {
  const pick = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)];
  const other = <T>(xs: readonly T[], not: T): T => {
    for (;;) {
      const x = pick(xs);
      if (x !== not) return x;
    }
  };
  return { w, rng, pick, other };
}

interface Ctx {
  w: World;
  rng: Rng;
  pick: <T>(xs: readonly T[]) => T;
  other: <T>(xs: readonly T[], not: T) => T;
}

/** Distinct rows until both splits are full; the first go to train. */
function split<T>(n: { train: number; dev: number }, make: () => T): { train: T[]; dev: T[] } {
  const rows: T[] = [], seen = new Set<string>();
  while (rows.length < n.train + n.dev) {
    const row = make(), key = JSON.stringify(row);
    if (!seen.has(key)) seen.add(key), rows.push(row);
  }
  return { train: rows.slice(0, n.train), dev: rows.slice(n.train) };
}

/** `template` with {M} the mention and other {slots} filled; offsets of the mention. */
function mention(template: string, name: string, slots: Record<string, string>, labels: string[]) {
  const filled = template.replace(/\{(\w+)\}/g, (m, k) => k === "M" ? m : slots[k]);
  const [before, after] = filled.split("{M}");
  const text = before + name + after;
  return { text, start: before.length, end: before.length + name.length, labels };
}

// Entity typing: a mention of a person, city, country, company, language or alliance. The kind
// shows in the name and the sentence; finer types (artist, founder, capital) are always said.
function entityTyping({ w, pick, other, rng }: Ctx): EntityTypingRow {
  const r = rng.next();
  if (r < 0.4) {
    const p = pick(w.people), o = w.job.get(p)!, company = w.founded.get(p);
    const tail = company
      ? pick(["founded {co}", "started the company {co}", "set up {co} years ago"])
      : pick(["joined {e}", "moved to {c}", "gave a talk in {c}", "wrote a letter"]);
    const template = pick([
      "{M} , a {o} born in {b} , " + tail + " .",
      "last year the {o} {M} " + tail + " .",
      "in {c} , the {o} {M} " + tail + " .",
      "records show that {M} , a {o} , " + tail + " .",
    ]);
    const labels = ["person", ...ARTS.has(o) ? ["artist"] : [], ...company ? ["founder"] : []];
    return mention(template, p, {
      o,
      b: w.birth.get(p)!,
      co: company ?? "",
      e: w.employer.get(p)!,
      c: pick(w.cities),
    }, labels);
  }
  if (r < 0.6) {
    const c = pick(w.cities), k = w.country.get(c)!, capital = w.capitals.has(c);
    const template = capital
      ? pick([
        "{M} , the capital of {k} , {tail} .",
        "the government of {k} sits in {M} .",
        "{p} moved to {M} , the capital of {k} .",
      ])
      : pick([
        "{M} , a town in {k} , {tail} .",
        "{p} grew up in {M} , a small city in {k} .",
        "the city of {M} in {k} {tail} .",
      ]);
    return mention(template, c, {
      k,
      p: pick(w.people),
      tail: pick(["has a busy market", "hosted a fair this year", "is known for its bridges"]),
    }, ["location", "city", ...capital ? ["capital"] : []]);
  }
  if (r < 0.72) {
    const k = pick(w.countries);
    const template = pick([
      "{M} borders {k2} .",
      "the people of {M} speak {l} .",
      "{M} , whose capital is {cap} , exports grain .",
      "{p} holds a passport of {M} .",
    ]);
    return mention(template, k, {
      k2: other(w.countries, k),
      l: w.official.get(k)!,
      cap: w.capital.get(k)!,
      p: pick(w.people),
    }, ["location", "country"]);
  }
  if (r < 0.88) {
    const co = pick(w.companies);
    const template = pick([
      "{M} , based in {hq} , sells tools .",
      "{f} founded {M} in {hq} .",
      "{M} hired {p} last year .",
      "the firm {M} opened an office in {c} .",
    ]);
    return mention(template, co, {
      hq: w.hq.get(co)!,
      f: w.foundedBy.get(co)!,
      p: pick(w.people),
      c: pick(w.cities),
    }, ["organization", "company"]);
  }
  if (r < 0.96) {
    const l = pick(w.languages);
    const k = w.countries.find((k) => w.official.get(k) === l)!;
    const template = pick([
      "{M} is spoken in {k} .",
      "{p} speaks {M} at home .",
      "many old books are written in {M} .",
      "the schools of {k} teach {M} .",
    ]);
    return mention(template, l, { k, p: pick(w.people) }, ["language"]);
  }
  const a = pick(w.alliances);
  const members = w.countries.filter((k) => w.member.get(k) === a);
  const template = pick([
    "{k} joined the {M} .",
    "the {M} met in {cap} this spring .",
    "leaders of the {M} signed a treaty .",
  ]);
  const k = pick(members);
  return mention(template, a, { k, cap: w.capital.get(k)! }, ["organization", "alliance"]);
}

// Relation classification: a sentence naming a subject (person or company) and an object; the
// wording says which relation holds, and no_relation sentences pair them by an unrelated act.
function relation({ w, pick, other, rng }: Ctx): RelationRow {
  const p = pick(w.people), co = pick(w.companies);
  const say = (label: string, s: string, o: string, templates: string[]): RelationRow =>
    tokens(pick(templates), s, o, label, pick);
  if (rng.next() < 0.3) {
    const kind = rng.int(5);
    if (kind === 0) {
      return say("no_relation", p, other(w.cities, w.birth.get(p)!), [
        "[S] visited [O] last summer .",
        "[S] once gave a talk in [O] .",
      ]);
    }
    if (kind === 1) {
      return say("no_relation", p, other(w.companies, w.employer.get(p)!), [
        "[S] bought a phone from [O] .",
        "[S] wrote a review of [O] .",
      ]);
    }
    if (kind === 2) {
      return say("no_relation", p, other(w.countries, w.citizen.get(p)!), [
        "[S] spent a holiday in [O] .",
        "[S] flew over [O] on the way home .",
      ]);
    }
    if (kind === 3) {
      return say("no_relation", co, other(w.cities, w.hq.get(co)!), [
        "[S] opened a shop in [O] .",
        "[S] sold tools to a school in [O] .",
      ]);
    }
    return say("no_relation", co, other(w.people, w.foundedBy.get(co)!), [
      "[S] sent a letter to [O] .",
      "[O] wrote a review of [S] .",
    ]);
  }
  switch (rng.int(7)) {
    case 0:
      return say("per:city_of_birth", p, w.birth.get(p)!, [
        "[S] was born in [O] .",
        "[S] , a native of [O] , moved away young .",
        "[O] is the birthplace of [S] .",
      ]);
    case 1:
      return say("per:origin", p, w.citizen.get(p)!, [
        "[S] is a citizen of [O] .",
        "[S] holds a passport of [O] .",
        "as a national of [O] , [S] voted .",
      ]);
    case 2:
      return say("per:employee_of", p, w.employer.get(p)!, [
        "[S] works for [O] .",
        "[O] employs [S] .",
        "[S] took a job with [O] .",
      ]);
    case 3:
      return say("per:title", p, w.job.get(p)!, [
        "[S] works as a [O] .",
        "the [O] [S] gave a talk .",
        "by trade , [S] is a [O] .",
      ]);
    case 4: {
      const c = pick([...w.foundedBy.keys()]);
      return say("org:founded_by", c, w.foundedBy.get(c)!, [
        "[O] founded [S] .",
        "[S] was started by [O] .",
        "[O] set up [S] years ago .",
      ]);
    }
    case 5:
      return say("org:city_of_headquarters", co, w.hq.get(co)!, [
        "[S] is headquartered in [O] .",
        "[O] hosts the head office of [S] .",
      ]);
    default:
      return say("org:country_of_headquarters", co, w.country.get(co)!, [
        "[S] has its main office in [O] .",
        "the head office of [S] is in [O] .",
      ]);
  }
}

// Filler that carries no relation, so position alone does not give the label away.
const OPENERS = ["", "", "", "records show that", "in fact ,", "today ,"];

function tokens(
  template: string,
  s: string,
  o: string,
  label: string,
  pick: <T>(xs: readonly T[]) => T,
): RelationRow {
  const token: string[] = [], spans: Record<string, [number, number]> = {};
  for (const w of `${pick(OPENERS)} ${template}`.split(" ").filter((w) => w !== "")) {
    const name = w === "[S]" ? s : w === "[O]" ? o : null;
    if (name === null) {
      token.push(w);
      continue;
    }
    spans[w] = [token.length, token.length + name.split(" ").length - 1];
    token.push(...name.split(" "));
  }
  const [subj_start, subj_end] = spans["[S]"], [obj_start, obj_end] = spans["[O]"];
  return { token, subj_start, subj_end, obj_start, obj_end, relation: label };
}

function shuffled<T>(xs: T[], rng: Rng): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

// Multiple choice: a sentence states one fact about a person and the question asks for it; the
// four choices are of the fact's kind (a city, a company or an occupation) and only the right
// one appears in the context, so the answer is read from it.
function multipleChoice({ w, pick, rng }: Ctx): MultipleChoiceRow {
  const who = pick(w.people), kind = rng.int(3);
  const right = [w.birth, w.employer, w.job][kind].get(who)!;
  const context = [
    `${who} was born in ${right} .`,
    `${who} works for ${right} .`,
    `${who} is a ${right} by trade .`,
  ][kind];
  const question = [
    `where was ${who} born ?`,
    `which company does ${who} work for ?`,
    `what does ${who} do for a living ?`,
  ][kind];
  const pool = [w.cities, w.companies, w.occupations][kind];
  const wrong = new Set<string>();
  while (wrong.size < 3) {
    const x = pick(pool);
    if (x !== right) wrong.add(x);
  }
  const choices = shuffled([right, ...wrong], rng);
  return { context, question, choices, label: choices.indexOf(right) };
}

// Span QA: a question, three paragraphs of which exactly one states the answer; the others
// state the same kind of fact about other entities, and the gold paragraph names a second
// entity of the answer's kind, so the answer is the span the question's wording points to.
function spanQa({ w, other, rng }: Ctx): SpanQaRow {
  const kind = rng.int(5);
  let question: string, answer: string;
  const paragraphs: string[] = [];
  if (kind === 0 || kind === 1) {
    const [p, q1, q2] = shuffled(w.people, rng);
    const para = (x: string, gold: boolean) =>
      kind === 0
        ? `${x} was born in ${w.birth.get(x)!} .` +
          (gold ? ` later ${x} moved to ${other(w.cities, w.birth.get(x)!)} .` : "") +
          ` ${x} works for ${w.employer.get(x)!} .`
        : `${x} works for ${w.employer.get(x)!} .` +
          (gold
            ? ` ${x} once bought a phone from ${other(w.companies, w.employer.get(x)!)} .`
            : "") +
          ` ${x} was born in ${w.birth.get(x)!} .`;
    question = kind === 0 ? `where was ${p} born ?` : `which company employs ${p} ?`;
    answer = kind === 0 ? w.birth.get(p)! : w.employer.get(p)!;
    paragraphs.push(para(p, true), para(q1, false), para(q2, false));
  } else if (kind === 2 || kind === 3) {
    const [k, k1, k2] = shuffled(w.countries, rng);
    const para = (x: string, gold: boolean) =>
      kind === 2
        ? `the capital of ${x} is ${w.capital.get(x)!} .` +
          (gold ? ` ${x} also has the port of ${other(w.cities, w.capital.get(x)!)} .` : "") +
          ` people there speak ${w.official.get(x)!} .`
        : `the official language of ${x} is ${w.official.get(x)!} .` +
          (gold ? ` some villagers also speak ${other(w.languages, w.official.get(x)!)} .` : "") +
          ` its capital is ${w.capital.get(x)!} .`;
    question = kind === 2
      ? `what is the capital of ${k} ?`
      : `which language is spoken officially in ${k} ?`;
    answer = kind === 2 ? w.capital.get(k)! : w.official.get(k)!;
    paragraphs.push(para(k, true), para(k1, false), para(k2, false));
  } else {
    const [c, c1, c2] = shuffled([...w.foundedBy.keys()], rng);
    const para = (x: string, gold: boolean) =>
      `${x} was founded by ${w.foundedBy.get(x)!} .` +
      (gold ? ` ${x} later hired ${other(w.people, w.foundedBy.get(x)!)} .` : "") +
      ` its head office is in ${w.hq.get(x)!} .`;
    question = `who founded ${c} ?`;
    answer = w.foundedBy.get(c)!;
    paragraphs.push(para(c, true), para(c1, false), para(c2, false));
  }
  return { question, paragraphs: shuffled(paragraphs, rng), answers: [answer] };
}

/** Writes every file of data/tasks/ into `dir`. */
export async function writeTasks(dir: string): Promise<void> {
  const t = makeTasks();
  await Deno.mkdir(dir, { recursive: true });
  const put = async <S extends SchemaName>(
    task: string,
    schema: S,
    rows: { train: Rows[S][]; dev: Rows[S][] },
  ) => {
    for (const s of ["train", "dev"] as const) {
      await writeArrow(`${dir}/${task}_${s}.arrow`, schema, rows[s]);
    }
  };
  await put("entity_typing", "entity-typing", t.entity_typing);
  await put("relation", "relation", t.relation);
  await put("multiple_choice", "multiple-choice", t.multiple_choice);
  await put("span_qa", "span-qa", t.span_qa);
}

if (import.meta.main) {
  const dir = new URL("./tasks", import.meta.url).pathname;
  await writeTasks(dir);
  console.log(`wrote data/tasks/ to ${dir}`);
}
