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
