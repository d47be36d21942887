// Positioned reads of an exact size, for the binary readers (safetensors, zip, torch .bin).

/**
 * Reads exactly `n` bytes at `offset` into a fresh (so aligned) buffer; null when the file
 * ends first. Read errors propagate, for the caller to word.
 */
export async function readExact(
  file: Deno.FsFile,
  offset: number,
  n: number,
): Promise<Uint8Array | null> {
  const out = new Uint8Array(n);
  let got = 0;
  await file.seek(offset, Deno.SeekMode.Start);
  while (got < n) {
    const r = await file.read(out.subarray(got));
    if (r === null) break;
    got += r;
  }
  return got < n ? null : out;
}
