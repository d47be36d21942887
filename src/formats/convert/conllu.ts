// CoNLL-U treebanks (universaldependencies.org/format.html): sentences separated by blank
// lines, `#` comments, 10 tab-separated columns per word. Multiword token ranges (`1-2`) and
// empty nodes (`1.1`) carry no basic-tree head, so they are skipped; FORM and HEAD are kept.
import type { Problem } from "../schemas.ts";
import { type Item, lines } from "./source.ts";

export async function* conllu(path: string): AsyncGenerator<Item> {
  let start = 0, tokens: string[] = [], heads: number[] = [];
  let problem: { at: string; problem: Problem } | null = null;
  const sentence = (): Item => problem ?? { at: `line ${start}`, row: { tokens, heads } };
  for await (const [n, line] of lines(path)) {
    if (line.trim() === "") {
      if (start > 0) yield sentence();
      start = 0, tokens = [], heads = [], problem = null;
      continue;
    }
    if (start === 0) start = n;
    if (line.startsWith("#") || problem) continue;
    const cols = line.split("\t");
    const bad = (field: string, reason: string, detail: string) => {
      problem = { at: `line ${n}`, problem: { field, reason, detail } };
    };
    if (cols.length !== 10) {
      bad("(line)", "not 10 columns", `${cols.length} tab-separated columns, expected 10`);
    } else if (/^\d+[-.]\d+$/.test(cols[0])) continue;
    else if (cols[0] !== String(tokens.length + 1)) {
      bad("ID", "ID out of sequence", `ID ${cols[0]}, expected ${tokens.length + 1}`);
    } else if (!/^\d+$/.test(cols[6])) {
      bad("HEAD", "HEAD not an integer", `${JSON.stringify(cols[6])} is not an integer`);
    } else {
      tokens.push(cols[1]);
      heads.push(Number(cols[6]));
    }
  }
  if (start > 0) yield sentence();
}
