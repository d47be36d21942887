#!/usr/bin/env bash
# Packs what tools/gpu_check.sh needs on a GPU machine with no network into dist/gpu/ (ignored
# by git; carry it along with the working tree): this machine's Deno binary, the Vulkan loader
# libvulkan.so.1 (a bare CUDA container often has the NVIDIA driver but no loader), and Deno's
# npm cache (DENO_DIR/npm: every package deno.lock names, for `deno task` and the tests), each
# xz-compressed, plus a manifest: 36.0 MiB with Deno 2.9.6 (29.3 MiB of it Deno), under the
# 64 MiB that may travel with the working tree (the device runner's carry: ["dist/gpu"]); takes
# 2 to 5 minutes on 2 busy cores.
#   bash tools/gpu_pack.sh            # writes dist/gpu/{deno.xz,libvulkan.so.1,npm.tar.xz,MANIFEST}
# Run it from any folder; DENO (default: `command -v deno`) picks another Deno binary.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/dist/gpu"
deno_bin=$(readlink -f "${DENO:-$(command -v deno)}")
deno_dir=$("$deno_bin" info --json | sed -n 's/.*"denoDir": *"\([^"]*\)".*/\1/p')
vulkan=$(ldconfig -p | awk '/libvulkan\.so\.1 .*x86-64/ && !f {print $NF; f = 1}')
[[ -n "$vulkan" ]] || { echo "no libvulkan.so.1 here (apt-get install libvulkan1)" >&2; exit 1; }

# Fill the cache with everything the lock file names, so nothing is fetched on the GPU side.
(cd "$root" && "$deno_bin" install --frozen >/dev/null)
[[ -d "$deno_dir/npm" ]] || { echo "no npm cache in $deno_dir" >&2; exit 1; }
rm -rf "$out" && mkdir -p "$out"
xz -T0 -6 -c "$deno_bin" >"$out/deno.xz"
cp -L "$vulkan" "$out/libvulkan.so.1"
tar -C "$deno_dir" -cf - npm | xz -T0 -6 -c >"$out/npm.tar.xz"
{
  echo "packed $(date -u +%FT%TZ) on $(uname -m)"
  echo "deno $("$deno_bin" --version | head -1 | cut -d' ' -f2) from $deno_bin"
  echo "libvulkan.so.1 from $vulkan"
  echo "npm cache from $deno_dir/npm"
  (cd "$out" && sha256sum deno.xz libvulkan.so.1 npm.tar.xz)
} >"$out/MANIFEST"
du -b "$out"/* | awk '{s += $1; print} END {printf "total %.1f MiB\n", s / 2^20}'
