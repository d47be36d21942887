// Training curves: turns a run's metrics log (JSON lines, src/train/log.ts) into one
// self-contained SVG written beside the run, so its loss and dev metrics can be looked at in
// any browser without a plotting stack. Pure string building with deterministic output.
import { writeTextAtomic } from "../formats/atomic.ts";
import { readRunLog } from "./log.ts";

export interface CurvesOptions {
  /** The chart's title (default "training curves"; "": none). */
  title?: string;
  /** Panels per row: 2 (default, 1000 wide) or 1 (500 wide, panels stacked: narrow screens). */
  columns?: 1 | 2;
}

type Point = [step: number, value: number];

interface Series {
  label: string;
  cls: string;
  color: string;
  points: Point[];
  width: number;
  opacity: number;
  markers: boolean;
}

interface Axis {
  lo: number;
  hi: number;
  ticks: string[];
  values: number[];
}

const ROW_H = 440, PANEL_W = 500;
const MARGIN = { left: 76, right: 24, bottom: 54 };
const TITLE_Y = 26, PANEL_TITLE_Y = 56, LEGEND_Y = 76, LEGEND_ROW = 18;
const LOSS_COLOR = "#1f77b4";
const COLORS = [
  "#d62728",
  "#2ca02c",
  "#ff7f0e",
  "#9467bd",
  "#8c564b",
  "#e377c2",
  "#17becf",
  "#7f7f7f",
  "#bcbd22",
];
const NOT_METRICS = new Set(["time", "event", "step"]);

/**
 * What a dev metric measures, so that each unit gets its own axis: a score is a fraction in
 * [0, 1] (accuracy, P/R/F1, UAS, MRR; drawn and reported in percent), a loss is in nats, and
 * perplexity is exp(loss).
 */
export type MetricUnit = "score" | "loss" | "perplexity";

export function metricUnit(name: string): MetricUnit {
  if (/perplexity|^ppl$/i.test(name)) return "perplexity";
  if (/loss/i.test(name)) return "loss";
  return "score";
}

/** Escapes text for XML content and attribute values. */
function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;");
}

/** A coordinate with two decimals at most ("12.5", never "12.500000000001"). */
function num(v: number): string {
  return String(Math.round(v * 100) / 100);
}

const finite = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

/** Records of `event`, the last one for each step (a resumed run relogs steps), by step. */
function lastPerStep(records: Record<string, unknown>[], event: string) {
  const byStep = new Map<number, Record<string, unknown>>();
  for (const r of records) if (r.event === event && finite(r.step)) byStep.set(r.step, r);
  return [...byStep].sort((a, b) => a[0] - b[0]);
}

/** An axis over [lo, hi] widened to ticks at multiples of 1, 2 or 5 x 10^k (about 5 of them). */
function niceAxis(lo: number, hi: number): Axis {
  if (lo === hi) {
    const pad = Math.abs(lo) * 0.1 || 1;
    [lo, hi] = [lo - pad, hi + pad];
  }
  const raw = (hi - lo) / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5].map((m) => m * mag).find((s) => s >= raw * (1 - 1e-9)) ?? 10 * mag;
  const k0 = Math.floor(lo / step + 1e-9), k1 = Math.ceil(hi / step - 1e-9);
  const decimals = Math.min(20, Math.max(0, -Math.floor(Math.log10(step) + 1e-9)));
  const values: number[] = [], ticks: string[] = [];
  for (let k = k0; k <= k1; k++) {
    values.push(k * step);
    ticks.push((k * step).toFixed(decimals));
  }
  return { lo: k0 * step, hi: k1 * step, ticks, values };
}

function extent(points: Point[], i: 0 | 1): [number, number] {
  let lo = Infinity, hi = -Infinity;
  for (const p of points) [lo, hi] = [Math.min(lo, p[i]), Math.max(hi, p[i])];
  return [lo, hi];
}

/** Centered moving average over an odd window of about 2% of the points. */
function smooth(points: Point[]): { points: Point[]; window: number } {
  const window = Math.max(1, Math.round(points.length * 0.02)) | 1, half = window >> 1;
  const out = points.map(([step], i): Point => {
    const from = Math.max(0, i - half), to = Math.min(points.length, i + half + 1);
    let sum = 0;
    for (let j = from; j < to; j++) sum += points[j][1];
    return [step, sum / (to - from)];
  });
  return { points: out, window };
}

/** Legend entries laid out in rows across a panel; returns their SVG and the row count. */
function legend(
  series: Series[],
  x0: number,
  y0: number,
  width: number,
): { svg: string[]; rows: number } {
  const svg: string[] = [];
  let x = x0, row = 0;
  for (const s of series) {
    const w = 34 + 7 * s.label.length;
    if (x > x0 && x + w > x0 + width) [x, row] = [x0, row + 1];
    const y = y0 + LEGEND_Y + row * LEGEND_ROW;
    svg.push(
      `<g class="legend-entry" data-label="${esc(s.label)}">` +
        `<line x1="${num(x)}" y1="${y - 4}" x2="${num(x + 22)}" y2="${
          y - 4
        }" stroke="${s.color}" ` +
        `stroke-width="${Math.max(2, s.width)}" stroke-opacity="${s.opacity}"/>` +
        (s.markers ? `<circle cx="${num(x + 11)}" cy="${y - 4}" r="3" fill="${s.color}"/>` : "") +
        `<text x="${num(x + 28)}" y="${y}">${esc(s.label)}</text></g>`,
    );
    x += w;
  }
  return { svg, rows: series.length ? row + 1 : 0 };
}

/** One panel: frame, axes with ticks, series, or `empty` centred when there is nothing. */
function panel(
  x0: number,
  y0: number,
  top: number,
  title: string,
  yTitle: string,
  series: Series[],
  xAxis: Axis | null,
  empty: string,
): string[] {
  const left = x0 + MARGIN.left, right = x0 + PANEL_W - MARGIN.right;
  const bottom = y0 + ROW_H - MARGIN.bottom, w = right - left, h = bottom - top;
  const out = [
    `<text class="panel-title" x="${num((left + right) / 2)}" y="${y0 + PANEL_TITLE_Y}" ` +
    `text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>`,
    `<rect class="plot-area" x="${num(left)}" y="${num(top)}" width="${num(w)}" ` +
    `height="${num(h)}" fill="none" stroke="#999"/>`,
  ];
  const all = series.flatMap((s) => s.points);
  if (!all.length || !xAxis) {
    out.push(
      `<text class="empty" x="${num(left + w / 2)}" y="${num(top + h / 2)}" ` +
        `text-anchor="middle" fill="#777">${esc(empty)}</text>`,
    );
    return out;
  }
  const yAxis = niceAxis(...extent(all, 1));
  const sx = (v: number) => left + (v - xAxis.lo) / (xAxis.hi - xAxis.lo) * w;
  const sy = (v: number) => bottom - (v - yAxis.lo) / (yAxis.hi - yAxis.lo) * h;
  xAxis.values.forEach((v, i) => {
    const x = num(sx(v));
    out.push(
      `<line x1="${x}" y1="${num(top)}" x2="${x}" y2="${num(bottom)}" stroke="#eee"/>`,
      `<text class="xtick" x="${x}" y="${num(bottom + 16)}" text-anchor="middle">` +
        `${xAxis.ticks[i]}</text>`,
    );
  });
  yAxis.values.forEach((v, i) => {
    const y = num(sy(v));
    out.push(
      `<line x1="${num(left)}" y1="${y}" x2="${num(right)}" y2="${y}" stroke="#eee"/>`,
      `<text class="ytick" x="${num(left - 6)}" y="${y}" text-anchor="end" ` +
        `dominant-baseline="middle">${yAxis.ticks[i]}</text>`,
    );
  });
  out.push(
    `<text class="axis-title" x="${num(left + w / 2)}" y="${num(bottom + 40)}" ` +
      `text-anchor="middle">step</text>`,
    `<text class="axis-title" transform="translate(${num(x0 + 18)} ${num(top + h / 2)}) ` +
      `rotate(-90)" text-anchor="middle">${esc(yTitle)}</text>`,
  );
  for (const s of series) {
    const pts = s.points.map(([x, y]) => `${num(sx(x))},${num(sy(y))}`);
    out.push(
      `<g class="series ${s.cls}" data-label="${esc(s.label)}">` +
        `<polyline points="${pts.join(" ")}" fill="none" stroke="${s.color}" ` +
        `stroke-width="${s.width}" stroke-opacity="${s.opacity}" stroke-linejoin="round"/>` +
        (s.markers
          ? pts.map((p) => {
            const [cx, cy] = p.split(",");
            return `<circle cx="${cx}" cy="${cy}" r="3" fill="${s.color}"/>`;
          }).join("")
          : "") +
        `</g>`,
    );
  }
  return out;
}

interface PanelSpec {
  cls: string;
  title: string;
  yTitle: string;
  series: Series[];
  empty: string;
}

/** The text of an empty dev panel: no dev set, not evaluated, or not evaluated yet. */
function noEvals(records: Record<string, unknown>[]): string {
  const start = records.findLast((r) => r.event === "start" || r.event === "resume");
  const config = start?.config as Record<string, unknown> | undefined;
  if (config && "dev" in config && (config.dev === null || config.dev === undefined)) {
    return "no dev set given";
  }
  const done = records.findLastIndex((r) => r.event === "done");
  return done >= 0 && done > records.findLastIndex((r) => r.event === "resume")
    ? "not evaluated"
    : "no evaluations yet";
}

/**
 * SVG text: a grid of panels two wide sharing the step axis. The first row: training loss vs
 * step (raw as a thin light line plus a moving average) and the dev scores in percent (one line
 * with markers per metric, legend); dev losses and perplexity, when logged, get panels (and
 * axes) of their own below, so no two units share an axis.
 */
export function curvesSvg(records: Record<string, unknown>[], opts: CurvesOptions = {}): string {
  const loss: Point[] = lastPerStep(records, "train")
    .filter(([, r]) => finite(r.loss)).map(([step, r]) => [step, r.loss as number]);
  const lossSeries: Series[] = [];
  if (loss.length) {
    // The raw line is drawn light under a moving average; alone (too few points to smooth), full.
    const smoothed = smooth(loss), alone = smoothed.window === 1;
    lossSeries.push({
      label: "raw",
      cls: "loss-raw",
      color: LOSS_COLOR,
      points: loss,
      width: alone ? 1.5 : 1,
      opacity: alone ? 1 : 0.3,
      markers: loss.length === 1,
    });
    if (!alone) {
      lossSeries.push({
        label: `moving average (${smoothed.window} points)`,
        cls: "loss-smooth",
        color: LOSS_COLOR,
        points: smoothed.points,
        width: 2,
        opacity: 1,
        markers: false,
      });
    }
  }
  const metrics = new Map<string, Point[]>();
  for (const [step, r] of lastPerStep(records, "eval")) {
    for (const [key, v] of Object.entries(r)) {
      if (NOT_METRICS.has(key) || !finite(v)) continue;
      if (!metrics.has(key)) metrics.set(key, []);
      metrics.get(key)!.push([step, metricUnit(key) === "score" ? v * 100 : v]);
    }
  }
  const byUnit = (unit: MetricUnit) =>
    [...metrics].filter(([key]) => metricUnit(key) === unit).map((
      [label, points],
      i,
    ): Series => ({
      label,
      cls: "metric",
      color: COLORS[i % COLORS.length],
      points,
      width: 1.5,
      opacity: 1,
      markers: true,
    }));
  const scores = byUnit("score"), devLoss = byUnit("loss"), ppl = byUnit("perplexity");
  const empty = noEvals(records);
  const panels: PanelSpec[] = [
    {
      cls: "loss-legend",
      title: "training loss",
      yTitle: "training loss",
      series: lossSeries,
      empty: "no training steps yet",
    },
  ];
  if (scores.length || !metrics.size) {
    panels.push({
      cls: "metric-legend",
      title: "dev metrics",
      yTitle: "dev metric (%)",
      series: scores,
      empty,
    });
  }
  if (devLoss.length) {
    panels.push({
      cls: "dev-loss-legend",
      title: "dev loss",
      yTitle: "dev loss",
      series: devLoss,
      empty,
    });
  }
  if (ppl.length) {
    panels.push({
      cls: "perplexity-legend",
      title: "dev perplexity",
      yTitle: "perplexity",
      series: ppl,
      empty,
    });
  }
  // Every panel shares the step axis; a row's panels share the plot top (below the taller
  // legend).
  const steps = [...loss, ...[...metrics.values()].flat()];
  const xAxis = steps.length ? niceAxis(...extent(steps, 0)) : null;
  const legendWidth = PANEL_W - MARGIN.left - MARGIN.right;
  const cols = opts.columns ?? 2, width = cols * PANEL_W;
  const rows = Math.ceil(panels.length / cols), height = rows * ROW_H;
  const title = opts.title ?? "training curves";
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    title
      ? `<text class="title" x="${width / 2}" y="${TITLE_Y}" text-anchor="middle" ` +
        `font-size="18" font-weight="bold">${esc(title)}</text>`
      : "",
  ].filter((l) => l);
  for (let row = 0; row < rows; row++) {
    const y0 = row * ROW_H, inRow = panels.slice(cols * row, cols * row + cols);
    const legends = inRow.map((p, i) =>
      legend(p.series, i * PANEL_W + MARGIN.left, y0, legendWidth)
    );
    const top = y0 + LEGEND_Y + Math.max(...legends.map((l) => l.rows), 1) * LEGEND_ROW;
    inRow.forEach((p, i) => {
      out.push(...panel(i * PANEL_W, y0, top, p.title, p.yTitle, p.series, xAxis, p.empty));
      out.push(`<g class="legend ${p.cls}">${legends[i].svg.join("")}</g>`);
    });
  }
  out.push(`</svg>`, "");
  return out.join("\n");
}

/** Reads `metricsPath` (jsonl) and writes `svgPath` atomically. */
export async function writeCurves(
  metricsPath: string,
  svgPath: string,
  opts?: CurvesOptions,
): Promise<void> {
  await writeTextAtomic(svgPath, curvesSvg(readRunLog(metricsPath), opts));
}
