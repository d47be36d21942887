// "Did you mean": the nearest of the known names to a mistyped one, by Damerau-Levenshtein
// distance (optimal string alignment: a swap of two neighbours counts as one edit).

/** Edits (insert, delete, substitute, swap neighbours) that turn `a` into `b`. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from(
    { length: a.length + 1 },
    (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.length][b.length];
}

/**
 * The known name nearest to `typed`, when it is near enough to be a typo (at most a third of
 * its length in edits, at least 1, at most 3) or `typed` is the start of exactly one name.
 */
export function nearest(typed: string, known: Iterable<string>): string | null {
  const names = [...known];
  let best: string | null = null, bestD = Infinity;
  for (const n of names) {
    const d = editDistance(typed.toLowerCase(), n.toLowerCase());
    if (d < bestD) [best, bestD] = [n, d];
  }
  const limit = Math.min(3, Math.max(1, Math.floor(typed.length / 3)));
  if (best !== null && bestD <= limit) return best;
  const starts = names.filter((n) => typed.length >= 2 && n.startsWith(typed));
  return starts.length === 1 ? starts[0] : null;
}

/** "; did you mean X?" or "" when nothing is near. */
export function didYouMean(typed: string, known: Iterable<string>, show = (s: string) => s) {
  const n = nearest(typed, known);
  return n === null ? "" : `; did you mean ${show(n)}?`;
}
