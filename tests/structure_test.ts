// The house rules, checked in CI as tinygrad checks its line count: no file in src/ over the
// line budget, and no import cycle among src/ modules (from `deno info --json` of a module
// importing every src/ file, which lists static, dynamic and type imports alike).
import assert from "node:assert/strict";
import { join, relative } from "node:path";

const ROOT = new URL("..", import.meta.url).pathname;
const SRC = join(ROOT, "src");
/** Lines per file: small files with one job each. */
const LINE_BUDGET = 400;

async function* tsFiles(dir: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(dir)) {
    const p = join(dir, e.name);
    if (e.isDirectory) yield* tsFiles(p);
    else if (e.name.endsWith(".ts")) yield p;
  }
}

Deno.test(`structure: no file in src/ exceeds ${LINE_BUDGET} lines`, async () => {
  const over: string[] = [];
  for await (const f of tsFiles(SRC)) {
    const lines = (await Deno.readTextFile(f)).split("\n").length - 1;
    if (lines > LINE_BUDGET) over.push(`${relative(ROOT, f)}: ${lines}`);
  }
  assert.deepEqual(over, [], `over the budget: ${over.join(", ")}`);
});

/** The strongly connected components with more than one module (Tarjan). */
export function cycles(graph: Map<string, string[]>): string[][] {
  const index = new Map<string, number>(), low = new Map<string, number>();
  const stack: string[] = [], on = new Set<string>(), out: string[][] = [];
  let next = 0;
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const part: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        part.push(w);
      } while (w !== v);
      if (part.length > 1) out.push(part.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return out;
}

Deno.test("structure: the cycle finder finds a cycle and passes a chain", () => {
  assert.deepEqual(cycles(new Map([["a", ["b"]], ["b", ["c"]], ["c", ["a"]], ["d", ["a"]]])), [
    ["a", "b", "c"],
  ]);
  assert.deepEqual(cycles(new Map([["a", ["b"]], ["b", ["c"]], ["c", []]])), []);
});

Deno.test("structure: src/ has no import cycle", async () => {
  const all = await Deno.makeTempFile({ prefix: "kadapter_all_", suffix: ".ts" });
  const files: string[] = [];
  for await (const f of tsFiles(SRC)) files.push(f);
  await Deno.writeTextFile(all, files.map((f) => `import "file://${f}";\n`).join(""));
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", all],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  await Deno.remove(all);
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    modules: { specifier: string; dependencies?: { code?: { specifier: string } }[] }[];
  };
  const src = new URL("src/", `file://${ROOT}`).href;
  const graph = new Map<string, string[]>();
  for (const m of info.modules) {
    if (!m.specifier.startsWith(src)) continue;
    const deps = (m.dependencies ?? []).map((d) => d.code?.specifier ?? "")
      .filter((s) => s.startsWith(src));
    graph.set(m.specifier.slice(src.length), deps.map((s) => s.slice(src.length)));
  }
  assert.equal(graph.size, files.length, "every src/ module is in the graph");
  const found = cycles(graph);
  assert.deepEqual(found, [], `import cycles: ${found.map((c) => c.join(" <-> ")).join("; ")}`);
});
