// Building blocks of the HTML reports: one self-contained page (inline CSS and SVG, no scripts,
// nothing fetched), escaped text and plain tables.

/** Text made safe for HTML element content and attribute values. */
export function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;");
}

/** Raw HTML, as opposed to text to escape. */
export class Html {
  constructor(readonly html: string) {}
}

export type Cell = string | number | Html | null;

const cell = (c: Cell, tag: "td" | "th", num = false): string => {
  if (c instanceof Html) return `<${tag}>${c.html}</${tag}>`;
  const attr = num || typeof c === "number" ? ' class="num"' : "";
  return `<${tag}${attr}>${typeof c === "number" ? fmt(c) : c === null ? "–" : esc(c)}</${tag}>`;
};

/** Numbers as tables print them: integers as they are, others to 4 decimals. */
export function fmt(x: number): string {
  return Number.isInteger(x) ? String(x) : x.toFixed(4);
}

/** `scores`: every column after the first holds numbers (formatted), aligned as numbers. */
export function table(head: Cell[], rows: Cell[][], caption?: string, scores = false): string {
  const row = (r: Cell[], tag: "td" | "th") =>
    `<tr>${r.map((c, j) => cell(c, tag, scores && j > 0)).join("")}</tr>`;
  return [
    "<table>",
    caption ? `<caption>${esc(caption)}</caption>` : "",
    `<thead>${row(head, "th")}</thead>`,
    `<tbody>${rows.map((r) => row(r, "td")).join("")}</tbody>`,
    "</table>",
  ].join("");
}

export function link(href: string, text: string): Html {
  return new Html(`<a href="${esc(encodeURI(href))}">${esc(text)}</a>`);
}

const STYLE = `
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1060px;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ddd}h3{margin-top:1.5em}
table{border-collapse:collapse;margin:1em 0}caption{text-align:left;font-weight:bold;padding:.3em 0}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}td.num{text-align:right;
font-variant-numeric:tabular-nums}thead{background:#f4f4f4}svg{max-width:100%;height:auto}
.note{color:#555}code{background:#f4f4f4;padding:0 .2em}`;

/** A whole page: `body` is HTML. */
export function page(title: string, body: string): string {
  return `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">` +
    `<meta name="viewport" content="width=device-width, initial-scale=1">` +
    `<title>${esc(title)}</title><style>${STYLE}</style></head>\n<body>\n${body}\n</body></html>\n`;
}
