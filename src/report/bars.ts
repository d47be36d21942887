// A grouped bar chart as inline SVG for the reports: one group per task (its main score), one
// bar per model in each, the value printed on each bar, scores in percent on a 0-100 axis (bars
// start at zero so their lengths compare). Deterministic string building, no scripts.
import { esc } from "./html.ts";

export interface BarGroup {
  /** The group's label under the axis, e.g. "entity typing (Mi-F1)". */
  label: string;
  /** One value per series, in percent; null: not measured (no bar, "–"). */
  values: (number | null)[];
}

const COLORS = ["#7f7f7f", "#1f77b4", "#2ca02c", "#d62728", "#9467bd", "#ff7f0e"];
const H = 300, TOP = 56, BOTTOM = 44, LEFT = 52, RIGHT = 16, BAR = 34, GAP = 6, GROUP_GAP = 44;

const n = (v: number) => String(Math.round(v * 100) / 100);

/** `series`: the bars' names (legend), in the order of each group's values. */
export function groupedBars(title: string, series: string[], groups: BarGroup[]): string {
  const groupW = series.length * (BAR + GAP) - GAP;
  const width = LEFT + RIGHT + groups.length * groupW + (groups.length + 1) * GROUP_GAP;
  const bottom = H - BOTTOM, h = bottom - TOP;
  const y = (v: number) => bottom - Math.max(0, Math.min(100, v)) / 100 * h;
  const out = [
    `<svg class="bars" xmlns="http://www.w3.org/2000/svg" width="${width}" height="${H}" ` +
    `viewBox="0 0 ${width} ${H}" font-family="sans-serif" font-size="12" role="img" ` +
    `aria-label="${esc(title)}">`,
    `<rect width="${width}" height="${H}" fill="white"/>`,
    `<text x="${n(width / 2)}" y="18" text-anchor="middle" font-size="14" font-weight="bold">` +
    `${esc(title)}</text>`,
  ];
  // Legend: one row, centred.
  const entries = series.map((s) => 26 + 7 * s.length);
  let x = Math.max(LEFT, (width - entries.reduce((a, b) => a + b, 0)) / 2);
  series.forEach((s, i) => {
    out.push(
      `<g class="bar-legend"><rect x="${n(x)}" y="28" width="12" height="12" ` +
        `fill="${COLORS[i % COLORS.length]}"/><text x="${n(x + 16)}" y="38">${esc(s)}</text></g>`,
    );
    x += entries[i];
  });
  for (let t = 0; t <= 100; t += 20) {
    out.push(
      `<line x1="${LEFT}" y1="${n(y(t))}" x2="${width - RIGHT}" y2="${n(y(t))}" ` +
        `stroke="${t ? "#eee" : "#999"}"/>`,
      `<text class="ytick" x="${LEFT - 6}" y="${n(y(t))}" text-anchor="end" ` +
        `dominant-baseline="middle">${t}</text>`,
    );
  }
  out.push(
    `<text transform="translate(14 ${n(TOP + h / 2)}) rotate(-90)" text-anchor="middle">` +
      `score (%)</text>`,
  );
  groups.forEach((g, gi) => {
    const x0 = LEFT + GROUP_GAP + gi * (groupW + GROUP_GAP);
    g.values.forEach((v, i) => {
      const bx = x0 + i * (BAR + GAP), cx = n(bx + BAR / 2);
      const name = esc(`${series[i]}: ${v === null ? "not measured" : v.toFixed(2)}`);
      if (v === null) {
        out.push(`<text x="${cx}" y="${n(bottom - 6)}" text-anchor="middle">–</text>`);
        return;
      }
      out.push(
        `<g class="bar" data-label="${name}"><title>${name}</title>` +
          `<rect x="${n(bx)}" y="${n(y(v))}" width="${BAR}" height="${n(bottom - y(v))}" ` +
          `fill="${COLORS[i % COLORS.length]}"/>` +
          `<text x="${cx}" y="${n(y(v) - 4)}" text-anchor="middle" font-size="11">` +
          `${v.toFixed(1)}</text></g>`,
      );
    });
    out.push(
      `<text class="group" x="${n(x0 + groupW / 2)}" y="${bottom + 18}" text-anchor="middle">` +
        `${esc(g.label)}</text>`,
    );
  });
  out.push("</svg>");
  return out.join("\n");
}
