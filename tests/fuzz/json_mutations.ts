// Seeded corruptions of a JSON document, the way configs and state files go wrong by hand or
// by a damaged copy: a field deleted, given another type, an absurd number, a list where an
// object was, text cut short. Each variant names what it changed.
import type { Rng } from "../../src/nn/init.ts";

export interface Variant {
  name: string;
  bytes: Uint8Array;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const enc = new TextEncoder();

/** Replacement values of another type or an absurd size. */
const ODD: [string, Json][] = [
  ["null", null],
  ["[]", []],
  ["{}", {}],
  ['"x"', "x"],
  ['""', ""],
  ["true", true],
  ["-1", -1],
  ["1e9", 1e9],
  ["2^60", 2 ** 60],
  ["1e308", 1e308],
  ["0.5", 0.5],
  ["[1e6 zeros]", []], // filled lazily below: a huge list
];

/** Every path to a value in `doc`, at most `limit` of them (breadth first). */
function paths(doc: Json, limit: number): (string | number)[][] {
  const out: (string | number)[][] = [];
  const queue: [Json, (string | number)[]][] = [[doc, []]];
  while (queue.length && out.length < limit) {
    const [v, p] = queue.shift()!;
    if (p.length) out.push(p);
    if (Array.isArray(v)) v.slice(0, 4).forEach((x, i) => queue.push([x, [...p, i]]));
    else if (v && typeof v === "object") {
      for (const [k, x] of Object.entries(v)) queue.push([x, [...p, k]]);
    }
  }
  return out;
}

function setAt(doc: Json, p: (string | number)[], value: Json | undefined): Json {
  const copy = structuredClone(doc);
  let cur = copy as Record<string | number, Json>;
  for (const k of p.slice(0, -1)) cur = cur[k] as Record<string | number, Json>;
  const last = p.at(-1)!;
  if (value === undefined) {
    if (Array.isArray(cur)) cur.splice(last as number, 1);
    else delete cur[last];
  } else cur[last] = value;
  return copy;
}

/**
 * One seeded variant of the JSON text `text`. `broken` variants are no longer a document of
 * the same shape (cut text, a list for the object): a reader must refuse them.
 */
export function jsonVariant(text: string, rng: Rng): Variant & { broken: boolean } {
  const doc = JSON.parse(text) as Json;
  const all = paths(doc, 400);
  const pick = <T>(xs: T[]) => xs[Math.floor(rng.next() * xs.length)];
  const kind = rng.next();
  if (kind < 0.1 || all.length === 0) {
    const cut = Math.floor(rng.next() * (text.trimEnd().length - 1));
    return { name: `text cut at ${cut}`, bytes: enc.encode(text.slice(0, cut)), broken: true };
  }
  if (kind < 0.14 && !Array.isArray(doc)) {
    return { name: "a list for the object", bytes: enc.encode("[1, 2, 3]"), broken: true };
  }
  const p = pick(all), where = p.join(".");
  if (kind < 0.35) {
    const bytes = enc.encode(JSON.stringify(setAt(doc, p, undefined)));
    return { name: `${where} deleted`, bytes, broken: false };
  }
  const [label, value] = pick(ODD);
  const v = label === "[1e6 zeros]" ? new Array(1_000_000).fill(0) : value;
  const bytes = enc.encode(JSON.stringify(setAt(doc, p, v)));
  return { name: `${where} = ${label}`, bytes, broken: false };
}
