// Regenerates data/reviews/: a synthetic two-class "movie review" task whose label needs
// word order, not just word counts (negation flips a clause; after "but", and around
// "although", the main clause decides). Seeded: the output is the same on every run.
//
//   deno run --allow-write data/make_reviews.ts
import { Rng } from "../src/nn/init.ts";

const SUBJECTS = [
  "the movie",
  "this film",
  "the plot",
  "the acting",
  "the cast",
  "the script",
  "the ending",
  "the soundtrack",
  "the director",
  "the dialogue",
  "the pacing",
  "the story",
];
const VERBS = ["was", "is", "felt", "seemed", "looked", "sounded"];
const INTENSIFIERS = ["very", "really", "quite", "truly", "rather", "so"];
const NEGATIONS = ["not", "never", "hardly"];
const ADJECTIVES = [
  ["bad", "boring", "dull", "awful", "terrible", "weak", "messy", "silly", "bland", "painful"],
  ["good", "great", "wonderful", "brilliant", "charming", "moving", "clever", "fun", "superb"],
];

const rng = new Rng(20240521);
const pick = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)];

/**
 * A clause of polarity `label` (0 negative, 1 positive). A quarter are negated: were it
 * half, adjective and negation would each say nothing about the label alone (an XOR), and
 * gradient descent from scratch would find no first step to take.
 */
function clause(label: number): string {
  const negated = rng.next() < 0.25;
  const words = [pick(SUBJECTS), pick(VERBS)];
  if (negated) words.push(pick(NEGATIONS));
  if (rng.next() < 0.4) words.push(pick(INTENSIFIERS));
  words.push(pick(ADJECTIVES[negated ? 1 - label : label]));
  return words.join(" ");
}

/** One review and its label: the polarity of the main clause. */
function review(): { text: string; label: number } {
  const label = rng.int(2), other = rng.int(2);
  const form = rng.next();
  let text: string;
  if (form < 0.3) text = clause(label);
  else if (form < 0.5) text = `${clause(other)} but ${clause(label)}`;
  else if (form < 0.65) text = `although ${clause(other)} , ${clause(label)}`;
  else if (form < 0.8) text = `${clause(label)} although ${clause(other)}`;
  else text = `${clause(label)} and ${clause(label)}`;
  return { text, label };
}

function unique(count: number, exclude: Set<string>) {
  const out: { text: string; label: number }[] = [];
  while (out.length < count) {
    const r = review();
    if (exclude.has(r.text)) continue;
    exclude.add(r.text);
    out.push(r);
  }
  return out;
}

const seen = new Set<string>();
const test = unique(1000, seen);
const train = unique(8000, seen);
const dir = new URL("./reviews/", import.meta.url);
const jsonl = (rows: object[]) => rows.map((r) => JSON.stringify(r)).join("\n") + "\n";
Deno.writeTextFileSync(new URL("train.jsonl", dir), jsonl(train));
Deno.writeTextFileSync(new URL("test.jsonl", dir), jsonl(test));

const words = new Set(
  [...SUBJECTS, ...VERBS, ...INTENSIFIERS, ...NEGATIONS, ...ADJECTIVES.flat(), "but", "although"]
    .flatMap((w) => w.split(" ")),
);
words.add(",").add("and");
const vocab = ["[PAD]", "[CLS]", "[UNK]", ...[...words].sort()];
Deno.writeTextFileSync(new URL("vocab.txt", dir), vocab.join("\n") + "\n");
console.log(`wrote ${train.length} train, ${test.length} test, ${vocab.length} tokens to ${dir}`);
