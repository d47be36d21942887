// What to run when a dataset is not what a command reads: the `kadapter data convert --format`
// values that write each Arrow schema (src/formats/convert/convert.ts's FORMATS, by schema; a
// test keeps the two in step). Kept apart so that the schema checks and the Arrow reader can
// name them without importing the converters.

/** The data convert formats that write each schema (src/formats/schemas.ts's names). */
export const MADE_BY: Readonly<Record<string, readonly string[]>> = {
  "trex-rc": ["trex-rc-json"],
  dependency: ["conllu", "find-head-json"],
  text: ["text"],
  lama: ["lama-trex", "lama-google-re", "lama-masked"],
  "entity-typing": ["entity-typing-json"],
  relation: ["tacred-json"],
  "multiple-choice": ["cosmosqa-jsonl"],
  "span-qa": ["searchqa-json"],
};

/** "the NAME schema comes from `kadapter data convert ...`"; every schema's when name is null. */
export function convertHint(name: string | null, input = "SOURCE"): string {
  const line = (f: string) =>
    `\`kadapter data convert --format ${f} --input ${input} --out X.arrow\``;
  if (name !== null) return `the ${name} schema comes from ${line(MADE_BY[name].join("|"))}`;
  const each = Object.entries(MADE_BY).map(([s, fs]) => `${fs.join(" or ")} (${s})`);
  return `convert it with ${line("FORMAT")}, FORMAT by schema: ${each.join(", ")}`;
}
