// Regenerates data/deps/: sentences from a tiny English grammar whose dependency trees are known
// by construction (determiners and adjectives hang on their noun, subject and object on the
// verb, a preposition on its noun, a prepositional phrase on the noun or verb it modifies, the
// final period on the verb, the verb on the root), in Universal Dependencies style. Written as
// Arrow in the dependency schema for the lin adapter and as CoNLL-U for `kadapter data convert`.
// Seeded: the output is the same on every run.
//
//   deno run --allow-write data/make_deps.ts
import { writeArrow } from "../src/formats/arrow_write.ts";
import type { DepRow } from "../src/formats/schemas.ts";
import { Rng } from "../src/nn/init.ts";

const DETS = ["the", "a", "this", "every", "some"];
const ADJS = ["old", "small", "red", "quiet", "clever", "tired", "happy", "green", "tall"];
// deno-fmt-ignore
const NOUNS = [
  "dog", "cat", "teacher", "farmer", "child", "bird", "doctor", "river", "garden", "house",
  "letter", "book", "apple", "car", "window", "table", "friend", "city",
];
const VERBS = ["saw", "found", "liked", "painted", "carried", "watched", "opened", "kept"];
const INTRANSITIVE = ["slept", "laughed", "waited", "arrived", "smiled"];
const PREPS = ["in", "near", "with", "behind", "under", "on"];
const ADVS = ["quickly", "yesterday", "again", "slowly", "today"];

/** One word: form, universal POS tag, 0-based head index (-1 = root) and relation. */
interface Word {
  form: string;
  upos: string;
  head: number;
  deprel: string;
}

export function makeDeps(count: number, rng: Rng): Word[][] {
  const pick = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)];
  const out: Word[][] = [];
  for (let s = 0; s < count; s++) {
    const words: Word[] = [];
    const add = (form: string, upos: string, deprel: string) =>
      words.push({ form, upos, head: -1, deprel }) - 1;
    // A noun phrase; its words' heads are patched to the noun, the noun's to `attach` later.
    const nounPhrase = (deprel: string): number => {
      const parts = [add(pick(DETS), "DET", "det")];
      for (let k = rng.int(3); k > 0; k--) parts.push(add(pick(ADJS), "ADJ", "amod"));
      const noun = add(pick(NOUNS), "NOUN", deprel);
      for (const p of parts) words[p].head = noun;
      return noun;
    };
    const attachments: [number, "noun" | "verb"][] = [];
    const prepPhrase = (modifies: "noun" | "verb") => {
      const prep = add(pick(PREPS), "ADP", "case");
      const noun = nounPhrase(modifies === "noun" ? "nmod" : "obl");
      words[prep].head = noun;
      attachments.push([noun, modifies]);
    };
    const subject = nounPhrase("nsubj");
    if (rng.next() < 0.25) prepPhrase("noun");
    const subjectPPs = attachments.length;
    const transitive = rng.next() < 0.7;
    const verb = add(pick(transitive ? VERBS : INTRANSITIVE), "VERB", "root");
    words[subject].head = verb;
    let object = -1;
    if (transitive) {
      object = nounPhrase("obj");
      words[object].head = verb;
      if (rng.next() < 0.3) prepPhrase("noun");
    }
    if (rng.next() < 0.4) prepPhrase("verb");
    if (rng.next() < 0.3) words[add(pick(ADVS), "ADV", "advmod")].head = verb;
    words[add(".", "PUNCT", "punct")].head = verb;
    // A noun-modifying phrase hangs on the noun just before it: the subject or the object.
    attachments.forEach(([noun, modifies], i) => {
      words[noun].head = modifies === "verb" ? verb : i < subjectPPs ? subject : object;
    });
    out.push(words);
  }
  return out;
}

const toRow = (words: Word[]): DepRow => ({
  tokens: words.map((w) => w.form),
  heads: words.map((w) => w.head + 1),
});

/** CoNLL-U: ID FORM LEMMA UPOS XPOS FEATS HEAD DEPREL DEPS MISC, a blank line after each. */
export function toConllu(sentences: Word[][]): string {
  return sentences.map((words, s) =>
    [
      `# sent_id = synthetic-${s + 1}`,
      `# text = ${words.map((w) => w.form).join(" ")}`,
      ...words.map((w, i) =>
        [i + 1, w.form, w.form, w.upos, "_", "_", w.head + 1, w.deprel, "_", "_"].join("\t")
      ),
    ].join("\n") + "\n\n"
  ).join("");
}

/** Writes every file of data/deps/ into `dir`. */
export async function writeDeps(dir: string): Promise<void> {
  const rng = new Rng(20240602);
  const [train, dev, sample] = [3000, 300, 40].map((n) => makeDeps(n, rng));
  await Deno.mkdir(dir, { recursive: true });
  await writeArrow(`${dir}/train.arrow`, "dependency", train.map(toRow));
  await writeArrow(`${dir}/dev.arrow`, "dependency", dev.map(toRow));
  await Deno.writeTextFile(`${dir}/sample.conllu`, toConllu(sample));
}

if (import.meta.main) {
  const dir = new URL("./deps", import.meta.url).pathname;
  await writeDeps(dir);
  console.log(`wrote data/deps/ to ${dir}`);
}
