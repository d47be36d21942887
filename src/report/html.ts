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

/**
 * `scores`: every column after the first holds numbers (formatted), aligned as numbers. A head
 * with no text in any cell is left out (no empty header row).
 */
export function table(head: Cell[], rows: Cell[][], caption?: string, scores = false): string {
  const row = (r: Cell[], tag: "td" | "th") =>
    `<tr>${r.map((c, j) => cell(c, tag, scores && j > 0)).join("")}</tr>`;
  const hasHead = head.some((c) => c !== null && c !== "" && !(c instanceof Html && !c.html));
  return [
    "<table>",
    caption ? `<caption>${esc(caption)}</caption>` : "",
    hasHead ? `<thead>${row(head, "th")}</thead>` : "",
    `<tbody>${rows.map((r) => row(r, "td")).join("")}</tbody>`,
    "</table>",
  ].join("");
}

/**
 * Key/value pairs as a definition list laid out as a grid that wraps (never scrolls sideways):
 * `columns` lays the pairs out in as many columns as fit (settings), else one pair per line.
 * Long values take a whole line of the grid.
 */
export function keyValues(pairs: [string, string | Html][], columns = false): string {
  const items = pairs.map(([k, v]) => {
    const text = v instanceof Html ? v.html : esc(v);
    const wide = columns && (v instanceof Html ? v.html.length > 120 : v.length > 18);
    return `<div${wide ? ' class="wide"' : ""}><dt>${esc(k)}</dt><dd>${text}</dd></div>`;
  });
  return `<dl class="kv${columns ? " cols" : ""}">${items.join("")}</dl>`;
}

export function link(href: string, text: string): Html {
  return new Html(`<a href="${esc(encodeURI(href))}">${esc(text)}</a>`);
}

const STYLE = `
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1060px;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ddd}h3{margin-top:1.5em}
h3.tt{font-size:1em;margin:1.5em 0 .4em}
table{border-collapse:collapse;margin:1em 0}caption{text-align:left;font-weight:bold;padding:.3em 0}
h3.tt+.scroll table{margin-top:0}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}td.num,th.num{text-align:right;
font-variant-numeric:tabular-nums}th,td:first-child{white-space:nowrap}thead{background:#f4f4f4}
svg{max-width:100%;height:auto}figure{margin:1em 0}
.note{color:#555}code{background:#f4f4f4;padding:0 .2em;overflow-wrap:anywhere}
code .flag{white-space:nowrap}
dl.kv{display:grid;grid-template-columns:max-content 1fr;margin:1em 0}
dl.kv>div{display:contents}dl.kv dt,dl.kv dd{border-bottom:1px solid #eee;padding:.2em 0}
dl.kv dt{font-weight:600;color:#444;padding-right:1em}
dl.kv dd{margin:0;overflow-wrap:anywhere;min-width:0}
dl.cols{grid-template-columns:repeat(auto-fill,minmax(17em,1fr));column-gap:1.5em;
grid-auto-flow:row dense}dl.cols>div{display:grid;column-gap:.3em;
grid-template-columns:minmax(10.5em,max-content) 1fr;border-bottom:1px solid #eee}dl.cols dt,dl.cols dd{border:0}dl.cols dt{white-space:nowrap}
dl.cols>div.wide{grid-column:1/-1}details{margin:1em 0}summary{cursor:pointer}
.scroll{overflow-x:auto}.narrow-only{display:none}
@media (max-width:600px){body{padding:0 .5em;margin:1em auto}th,td{padding:.2em .35em}
table{font-size:.85em}td:first-child{white-space:normal}dl.kv:not(.cols) dt{max-width:8em}
.wide-only{display:none}.narrow-only{display:block}}`;

/** A whole page: `body` is HTML. */
export function page(title: string, body: string): string {
  return `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">` +
    `<meta name="viewport" content="width=device-width, initial-scale=1">` +
    `<title>${esc(title)}</title><style>${STYLE}</style></head>\n<body>\n${body}\n</body></html>\n`;
}
