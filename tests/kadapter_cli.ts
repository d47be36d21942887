// Runs the CLI as a user does: `deno run -A main.ts ...` in a child process, output captured.
export const MAIN = new URL("../main.ts", import.meta.url).pathname;

export async function kadapter(
  ...args: string[]
): Promise<{ code: number; out: string; err: string }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    stdin: "null",
  }).output();
  const dec = new TextDecoder();
  return { code, out: dec.decode(stdout), err: dec.decode(stderr) };
}

/** Every path under `dir` that an atomic write left behind (`.NAME.tmp-...`). */
export async function strayTemps(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const p = `${dir}/${e.name}`;
    if (/^\..*\.tmp-/.test(e.name)) out.push(p);
    else if (e.isDirectory) out.push(...await strayTemps(p));
  }
  return out;
}
