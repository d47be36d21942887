// Regenerates data/world/: a small invented world (countries, cities, languages, alliances,
// companies, people) whose facts agree with each other (a person's citizenship is the country of
// the city they were born in), written as T-REx-rc sentences for the fac adapter, a fact list
// and LAMA-style templates for probing, and a corpus that mentions the same entities without
// stating any probed fact (for masked-LM pretraining that must not leak the answers).
// Seeded: the output is the same on every run.
//
//   deno run --allow-write data/make_world.ts
import { writeArrow } from "../src/formats/arrow_write.ts";
import type { TrexRow } from "../src/formats/schemas.ts";
import { Rng } from "../src/nn/init.ts";

export interface Fact {
  subject: string;
  relation: string;
  object: string;
}

// Common English subwords, so byte-level BPE splits each name into a few familiar pieces.
// deno-fmt-ignore
const HEADS = [
  "Bel", "Mar", "Tor", "Val", "Kel", "Dun", "Ash", "Wil", "Ros", "Har", "Lan", "Cal", "Mor",
  "Fen", "Gar", "Sel", "Bran", "Cor", "Del", "Ed", "Nor", "Pen", "Ris", "Tal", "Ver", "Hol",
];
const PLACE = ["ford", "ton", "mont", "wick", "dale", "ley", "more", "field", "bury", "port"];
const LAND = ["ia", "land", "ora", "ana", "eria"];
const TONGUE = ["ish", "ese", "ic", "ian"];
const FIRM = ["tech", "soft", "works", "tel", "corp"];
const GIVEN = ["a", "o", "en", "is", "ric", "ina"];
// Suffixes differ from PLACE and FIRM, so no surname is also a city or company.
const SURNAME = ["son", "er", "man", "win", "ard", "ett"];
const ALLIANCES = ["Northern Pact", "Harbor League", "Silver Accord", "Eastern Union"];
// deno-fmt-ignore
const OCCUPATIONS = [
  "engineer", "painter", "chemist", "pilot", "farmer", "lawyer", "poet", "architect",
  "surgeon", "composer",
];

/** Relation id -> label, LAMA type, probe template, and training sentence templates. */
const RELATIONS: Record<string, { label: string; type: string; lama: string; says: string[] }> = {
  P19: {
    label: "place of birth",
    type: "N-1",
    lama: "[X] was born in [Y] .",
    says: [
      "[X] was born in [Y] .",
      "[Y] is the birthplace of [X] .",
      "born in [Y] , [X] grew up there .",
    ],
  },
  P27: {
    label: "country of citizenship",
    type: "N-1",
    lama: "[X] is a citizen of [Y] .",
    says: [
      "[X] holds citizenship of [Y] .",
      "[X] is a [Y] national .",
      "as a citizen of [Y] , [X] voted .",
    ],
  },
  P108: {
    label: "employer",
    type: "N-1",
    lama: "[X] works for [Y] .",
    says: ["[X] works at [Y] .", "[Y] employs [X] .", "[X] took a job with [Y] ."],
  },
  P106: {
    label: "occupation",
    type: "N-1",
    lama: "[X] is a [Y] by profession .",
    says: ["[X] works as a [Y] .", "[X] became a [Y] .", "by trade , [X] is a [Y] ."],
  },
  P1412: {
    label: "languages spoken, written or signed",
    type: "N-1",
    lama: "[X] speaks [Y] .",
    says: [
      "[X] speaks fluent [Y] .",
      "[Y] is the language [X] speaks at home .",
      "[X] writes in [Y] .",
    ],
  },
  P17: {
    label: "country",
    type: "N-1",
    lama: "[X] is located in [Y] .",
    says: ["[X] lies in [Y] .", "[Y] is home to [X] .", "[X] is based in the country of [Y] ."],
  },
  P36: {
    label: "capital",
    type: "1-1",
    lama: "The capital of [X] is [Y] .",
    says: [
      "[Y] is the capital of [X] .",
      "the capital city of [X] is [Y] .",
      "[X] is governed from [Y] .",
    ],
  },
  P37: {
    label: "official language",
    type: "1-1",
    lama: "The official language of [X] is [Y] .",
    says: [
      "[X] has [Y] as its official language .",
      "[Y] is spoken officially in [X] .",
      "in [X] , laws are written in [Y] .",
    ],
  },
  P159: {
    label: "headquarters location",
    type: "N-1",
    lama: "The headquarters of [X] is in [Y] .",
    says: [
      "[X] is headquartered in [Y] .",
      "[Y] hosts the head office of [X] .",
      "[X] has its main office in [Y] .",
    ],
  },
  P463: {
    label: "member of",
    type: "N-1",
    lama: "[X] is a member of [Y] .",
    says: [
      "[X] joined the [Y] .",
      "the [Y] counts [X] among its members .",
      "[X] belongs to the [Y] .",
    ],
  },
  P112: {
    label: "founded by",
    type: "N-1",
    lama: "[X] was founded by [Y] .",
    says: ["[Y] founded [X] .", "[X] was started by [Y] .", "[Y] set up [X] years ago ."],
  },
  P47: {
    label: "shares border with",
    type: "N-M",
    lama: "[X] shares a border with [Y] .",
    says: [
      "[X] borders [Y] .",
      "[Y] lies next to [X] .",
      "the border between [X] and [Y] is long .",
    ],
  },
};

// Words around a sentence that carry no relation, so position alone does not give it away.
const OPENERS = ["", "", "", "records show that", "it is known that", "in fact ,", "today ,"];
const CLOSERS = ["", "", "", "", "according to locals", "as reported"];

/** The world's entities and facts, and its sentences, from `seed`. */
export function makeWorld(seed = 20240601) {
  const rng = new Rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)];
  const used = new Set<string>(ALLIANCES);
  const fresh = (make: () => string): string => {
    for (;;) {
      const name = make();
      if (!used.has(name)) {
        used.add(name);
        return name;
      }
    }
  };
  const facts: Fact[] = [];
  const fact = (subject: string, relation: string, object: string) =>
    facts.push({ subject, relation, object });

  const countries = Array.from({ length: 12 }, () => fresh(() => pick(HEADS) + pick(LAND)));
  const cityOf = new Map<string, string>(), languageOf = new Map<string, string>();
  const cities: string[] = [];
  for (const [i, country] of countries.entries()) {
    const local = Array.from({ length: 3 }, () => fresh(() => pick(HEADS) + pick(PLACE)));
    for (const c of local) cityOf.set(c, country), fact(c, "P17", country);
    cities.push(...local);
    fact(country, "P36", local[0]);
    const language = fresh(() => pick(HEADS) + pick(TONGUE));
    languageOf.set(country, language);
    fact(country, "P37", language);
    fact(country, "P463", ALLIANCES[i % ALLIANCES.length]);
  }
  // Borders: a ring plus a few chords, stated once per unordered pair.
  for (let i = 0; i < countries.length; i++) {
    fact(countries[i], "P47", countries[(i + 1) % countries.length]);
    if (i % 3 === 0) fact(countries[i], "P47", countries[(i + 5) % countries.length]);
  }

  const people = Array.from(
    { length: 180 },
    () => fresh(() => `${pick(HEADS)}${pick(GIVEN)} ${pick(HEADS)}${pick(SURNAME)}`),
  );
  const companies = Array.from({ length: 40 }, () => fresh(() => pick(HEADS) + pick(FIRM)));
  for (const [i, company] of companies.entries()) {
    const hq = pick(cities);
    fact(company, "P159", hq);
    fact(company, "P17", cityOf.get(hq)!);
    fact(company, "P112", people[i]); // the first 40 people each founded one company
  }
  for (const person of people) {
    const birth = pick(cities), country = cityOf.get(birth)!;
    fact(person, "P19", birth);
    fact(person, "P27", country);
    fact(person, "P1412", languageOf.get(country)!);
    fact(person, "P108", pick(companies));
    fact(person, "P106", pick(OCCUPATIONS));
  }

  // Rare relations get more sentences per fact, so each has about 60 (repeats are dropped).
  const perRelation = new Map<string, number>();
  for (const f of facts) perRelation.set(f.relation, (perRelation.get(f.relation) ?? 0) + 1);
  const sentences: TrexRow[] = [], texts = new Set<string>();
  for (const f of facts) {
    const says = RELATIONS[f.relation].says;
    const n = Math.max(3, Math.ceil(60 / perRelation.get(f.relation)!));
    for (let k = 0; k < n; k++) {
      const row = sentence(f, says[(rng.int(3) + k) % 3], pick), text = row.token.join(" ");
      if (!texts.has(text)) texts.add(text), sentences.push(row); // no dev sentence is in train
    }
  }
  shuffle(sentences, rng);
  const dev = Math.round(sentences.length / 10);

  return {
    facts,
    relations: Object.entries(RELATIONS).map(([relation, r]) => ({
      relation,
      template: r.lama,
      label: r.label,
      type: r.type,
    })),
    train: sentences.slice(dev),
    dev: sentences.slice(0, dev),
    entities: { countries, cities, people, companies },
    corpus: corpus({ countries, cities, people, companies }, rng, pick),
    // One-word names a tokenizer can make single tokens (`model init --words`), so that
    // facts with these objects can be probed.
    words: [...countries, ...cities, ...languageOf.values(), ...companies, ...OCCUPATIONS],
  };
}

/** A T-REx-rc row: `template` filled, wrapped in optional filler, spans on the words. */
function sentence(f: Fact, template: string, pick: <T>(xs: readonly T[]) => T): TrexRow {
  const token: string[] = [];
  const spans: Record<string, [number, number]> = {};
  const words = [pick(OPENERS), template.replace(/ \.$/, ""), pick(CLOSERS), "."].join(" ");
  for (const w of words.split(" ").filter((w) => w !== "")) {
    const name = w === "[X]" ? f.subject : w === "[Y]" ? f.object : null;
    if (name === null) {
      token.push(w);
      continue;
    }
    const parts = name.split(" ");
    spans[w] = [token.length, token.length + parts.length - 1];
    token.push(...parts);
  }
  const [subj_start, subj_end] = spans["[X]"], [obj_start, obj_end] = spans["[Y]"];
  return { token, subj_start, subj_end, obj_start, obj_end, relation: f.relation };
}

/**
 * Sentences that use the entities and the relation phrases, but never a probed fact: the
 * phrases get generic objects ("a small village"), attributes are outside the fact list.
 */
function corpus(
  e: { countries: string[]; cities: string[]; people: string[]; companies: string[] },
  rng: Rng,
  pick: <T>(xs: readonly T[]) => T,
): string[] {
  // deno-fmt-ignore
  const FORMS: [string[], string[]][] = [
    [e.people, [
      "X was born in a small village .", "X is a citizen of a distant nation .",
      "X works for a large firm .", "X speaks slowly .", "X likes long walks .",
      "X is a quiet neighbor .", "X wrote a letter to a friend .", "X has two brothers .",
      "X is a member of a chess club .",
    ]],
    [e.cities, [
      "X has a busy market .", "X is located in a green valley .", "the streets of X are narrow .",
      "X is known for its bridges .", "many tourists visit X in summer .",
    ]],
    [e.countries, [
      "X has many rivers .", "the capital of X is a busy city .", "X shares a border with the sea .",
      "the official language of X is old .", "X exports grain and wool .",
    ]],
    [e.companies, [
      "X was founded by a group of friends .", "the headquarters of X is in a tall tower .",
      "X sells tools .", "X hired new staff this year .", "X is located in an old factory .",
    ]],
  ];
  const lines: string[] = [];
  for (const [names, forms] of FORMS) {
    for (const name of names) {
      for (let k = 0; k < 8; k++) lines.push(pick(forms).replace("X", name));
    }
  }
  shuffle(lines, rng);
  return lines;
}

function shuffle<T>(xs: T[], rng: Rng): void {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
}

/**
 * A held-out split for LAMA probing with an MLM layer trained on text that states facts: half
 * of each kind of entity (countries, cities, people, companies) is "seen", and `corpus` is the
 * fact-free corpus plus the T-REx sentences (no markers) of every fact about a seen subject.
 * An MLM layer trained on it learns to read facts out of a feature, and probing the unseen
 * half asks only for facts the layer never read. Its own Rng, so the world's files stay as
 * they are.
 */
export function heldOut(w: ReturnType<typeof makeWorld>, seed = 20240602) {
  const rng = new Rng(seed);
  const seen = new Set<string>();
  for (const names of Object.values(w.entities)) {
    const xs = [...names];
    shuffle(xs, rng);
    xs.slice(0, xs.length / 2).forEach((x) => seen.add(x));
  }
  const subject = (r: TrexRow) => r.token.slice(r.subj_start, r.subj_end + 1).join(" ");
  const stated = [...w.train, ...w.dev].filter((r) => seen.has(subject(r)))
    .map((r) => r.token.join(" "));
  const corpus = [...w.corpus, ...stated];
  shuffle(corpus, rng);
  return {
    corpus,
    seen: w.facts.filter((f) => seen.has(f.subject)),
    unseen: w.facts.filter((f) => !seen.has(f.subject)),
  };
}

/**
 * T-REx-rc sentences in which the words do not decide the relation: every person also lives
 * in a city other than their birth city (P551, residence), every company was founded in a
 * city other than its headquarters (P740, location of formation), and these facts and those
 * of P19 and P159 are also stated by neutral templates ("[X] of [Y] ."), so telling P19 from
 * P551, or P159 from P740, there needs the (subject, city) pair remembered. The world's
 * sentences plus these, the new ones split 90/10 on their own.
 */
export function ambiguous(w: ReturnType<typeof makeWorld>, seed = 20240603) {
  const rng = new Rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)];
  const other = (relation: string, twin: string) =>
    w.facts.filter((f) => f.relation === twin).map((f) => ({
      subject: f.subject,
      relation,
      object: pick(w.entities.cities.filter((c) => c !== f.object)),
    }));
  const residence = other("P551", "P19"), formation = other("P740", "P159");
  const LIVES = ["[X] lives in [Y] .", "[Y] is where [X] lives now .", "[X] moved to [Y] ."];
  const FOUNDED = [
    "[X] was founded in [Y] .",
    "[X] started out in [Y] .",
    "[Y] is where [X] began .",
  ];
  const NEUTRAL = ["[X] of [Y] .", "[X] , [Y] .", "[X] ( [Y] ) ."];
  const texts = new Set([...w.train, ...w.dev].map((r) => r.token.join(" ")));
  const fresh: TrexRow[] = [], neutral = new Set<TrexRow>();
  const add = (f: Fact, templates: string[]) => {
    for (const t of templates) {
      const row = sentence(f, t, pick), text = row.token.join(" ");
      if (texts.has(text)) continue;
      texts.add(text), fresh.push(row);
      if (NEUTRAL.includes(t)) neutral.add(row);
    }
  };
  for (const f of residence) add(f, [...LIVES, ...NEUTRAL]);
  for (const f of formation) add(f, [...FOUNDED, ...NEUTRAL]);
  for (const f of w.facts) if (f.relation === "P19" || f.relation === "P159") add(f, NEUTRAL);
  shuffle(fresh, rng);
  const dev = Math.round(fresh.length / 10);
  return {
    train: [...w.train, ...fresh.slice(dev)],
    dev: [...w.dev, ...fresh.slice(0, dev)],
    // The dev rows only a remembered pair classifies: chance is 50%.
    neutralDev: fresh.slice(0, dev).filter((r) => neutral.has(r)),
  };
}

/** Writes every file of data/world/ into `dir`. */
export async function writeWorld(dir: string): Promise<void> {
  const w = makeWorld();
  const jsonl = (rows: object[]) => rows.map((r) => JSON.stringify(r)).join("\n") + "\n";
  await Deno.mkdir(dir, { recursive: true });
  await writeArrow(`${dir}/trex_train.arrow`, "trex-rc", w.train);
  await writeArrow(`${dir}/trex_dev.arrow`, "trex-rc", w.dev);
  await Deno.writeTextFile(`${dir}/facts.jsonl`, jsonl(w.facts));
  await Deno.writeTextFile(`${dir}/relations.jsonl`, jsonl(w.relations));
  await Deno.writeTextFile(`${dir}/corpus_nofacts.txt`, w.corpus.join("\n") + "\n");
  await writeArrow(`${dir}/corpus.arrow`, "text", w.corpus.map((text) => ({ text })));
  await Deno.writeTextFile(`${dir}/words.txt`, w.words.join("\n") + "\n");
  const h = heldOut(w);
  await writeArrow(`${dir}/corpus_seen.arrow`, "text", h.corpus.map((text) => ({ text })));
  await Deno.writeTextFile(`${dir}/facts_seen.jsonl`, jsonl(h.seen));
  await Deno.writeTextFile(`${dir}/facts_unseen.jsonl`, jsonl(h.unseen));
}

/** Writes `ambiguous`'s sentences (too big to bundle) and its neutral dev rows into `dir`. */
export async function writeAmbiguous(dir: string): Promise<void> {
  const a = ambiguous(makeWorld());
  await Deno.mkdir(dir, { recursive: true });
  await writeArrow(`${dir}/trex_ambiguous_train.arrow`, "trex-rc", a.train);
  await writeArrow(`${dir}/trex_ambiguous_dev.arrow`, "trex-rc", a.dev);
  await writeArrow(`${dir}/trex_ambiguous_neutral_dev.arrow`, "trex-rc", a.neutralDev);
}

if (import.meta.main) {
  if (Deno.args[0] === "--ambiguous" && Deno.args[1]) {
    await writeAmbiguous(Deno.args[1]);
    console.log(`wrote trex_ambiguous_{train,dev,neutral_dev}.arrow to ${Deno.args[1]}`);
  } else {
    const dir = new URL("./world", import.meta.url).pathname;
    await writeWorld(dir);
    console.log(`wrote data/world/ to ${dir}`);
  }
}
