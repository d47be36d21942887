// A plain-text corpus for masked-LM training: one document (or line) per row, as WikiText
// lines are; blank lines are skipped, other lines kept exactly (without the line ending).
import { type Item, lines } from "./source.ts";

export async function* plainText(path: string): AsyncGenerator<Item> {
  for await (const [n, line] of lines(path)) {
    if (line.trim() !== "") yield { at: `line ${n}`, row: { text: line } };
  }
}
