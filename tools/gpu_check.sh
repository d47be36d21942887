#!/usr/bin/env bash
# The GPU-machine check: run on a machine with a real GPU (NVIDIA H100/H200, Linux x86-64) and
# no network, in a copy of this working tree that carries dist/gpu/ (tools/gpu_pack.sh, run
# beforehand on a machine with the network: Deno, the Vulkan loader, Deno's npm cache).
#   OUT=/some/dir bash tools/gpu_check.sh     (OUT defaults to /tmp/gpu_check)
# With the device runner: command `bash tools/gpu_check.sh`, carry ["dist/gpu"], timeout 540.
# Writes under $OUT: inventory.txt (nvidia-smi, vulkaninfo --summary, the Vulkan ICD files, the
# tools used), doctor.log (`kadapter doctor`), tests.log (the GPU-relevant tests), bench.log
# (`bench torch --quick`; PyTorch on CUDA as the peer where a torch with CUDA is installed, else
# on the CPU), and summary.txt (each part's exit status and seconds). Each part has a time limit
# (about 8 minutes in all). Without an NVIDIA GPU (e.g. on llvmpipe) the GPU-only checks are
# skipped with a note and the rest runs on whatever adapter WebGPU offers.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-/tmp/gpu_check}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
cd "$root"
work=$(mktemp -d "${TMPDIR:-/tmp}/kadapter_gpu.XXXXXX") # unpacked tools; not under $OUT
trap 'rm -rf "$work"' EXIT
inv="$OUT/inventory.txt" summary="$OUT/summary.txt"
: >"$inv"
: >"$summary"
export NO_COLOR=1 DENO_NO_UPDATE_CHECK=1 DENO_NO_PROMPT=1
note() { echo "$*" | tee -a "$summary"; }
section() { printf '\n== %s\n' "$1" >>"$inv"; }

# ---- what is there ---------------------------------------------------------------------------
section "machine"
{ uname -a; nproc; free -g | head -2; } >>"$inv" 2>&1
gpu=no
section "nvidia-smi"
if command -v nvidia-smi >/dev/null && timeout 30 nvidia-smi >>"$inv" 2>&1; then
  gpu=yes
  timeout 30 nvidia-smi -L >>"$inv" 2>&1
else
  echo "nvidia-smi: absent or failed" >>"$inv"
fi
section "Vulkan ICD files"
icd=""
for d in /usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/share/vulkan/icd.d; do
  for f in "$d"/*.json; do
    [[ -e "$f" ]] || continue
    echo "$f: $(tr -d '\n' <"$f")" >>"$inv"
    [[ "$f" == *nvidia* ]] && icd=$f
  done
done
# Containers often mount the NVIDIA driver without its ICD file: point the loader at the driver.
nv_lib=$(ldconfig -p 2>/dev/null | awk '/libGLX_nvidia\.so\.0 / && !f {print $NF; f = 1}')
if [[ -z "$icd" && -n "$nv_lib" ]]; then
  icd="$work/nvidia_icd.json"
  printf '{"file_format_version":"1.0.0","ICD":{"library_path":"%s","api_version":"1.3"}}\n' \
    "$nv_lib" >"$icd"
  export VK_ICD_FILENAMES=$icd VK_DRIVER_FILES=$icd
  echo "no NVIDIA ICD file; wrote $icd for $nv_lib" >>"$inv"
fi
[[ -n "$icd" ]] || echo "no NVIDIA Vulkan ICD (file or libGLX_nvidia.so.0)" >>"$inv"
section "NVIDIA libraries and container settings"
{ ldconfig -p 2>/dev/null | grep -i nvidia; env | grep '^NVIDIA_'; } >>"$inv" || true

# ---- the tools: the packed ones (dist/gpu) where present, else this machine's ----------------
section "tools"
pack="$root/dist/gpu"
if [[ -f "$pack/deno.xz" ]]; then
  xz -dc "$pack/deno.xz" >"$work/deno" && chmod +x "$work/deno"
  mkdir -p "$work/deno_dir" && xz -dc "$pack/npm.tar.xz" | tar -C "$work/deno_dir" -xf -
  export DENO_DIR="$work/deno_dir" PATH="$work:$PATH"
  cat "$pack/MANIFEST" >>"$inv"
else
  echo "no dist/gpu/deno.xz (run tools/gpu_pack.sh): using this machine's deno" >>"$inv"
fi
if ! ldconfig -p 2>/dev/null | grep 'libvulkan\.so\.1 ' >/dev/null; then
  if [[ -f "$pack/libvulkan.so.1" ]]; then
    mkdir -p "$work/lib" && cp "$pack/libvulkan.so.1" "$work/lib/"
    export LD_LIBRARY_PATH="$work/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    echo "libvulkan.so.1: the packed one" >>"$inv"
  else
    echo "libvulkan.so.1: none (WebGPU will find no Vulkan adapter)" >>"$inv"
  fi
fi
if ! command -v deno >/dev/null; then
  note "FAIL: no deno (neither dist/gpu/deno.xz nor one on PATH)"
  exit 1
fi
deno --version | head -1 >>"$inv"
section "vulkaninfo --summary"
if command -v vulkaninfo >/dev/null; then
  timeout 30 vulkaninfo --summary >>"$inv" 2>&1 || echo "vulkaninfo failed" >>"$inv"
else
  echo "vulkaninfo: not installed" >>"$inv"
fi
# A Python whose torch sees CUDA is the bench's peer on the GPU; else /usr/bin/python3 on CPU.
section "torch"
py=/usr/bin/python3 device=cpu
for p in python3 /usr/bin/python3 /usr/local/bin/python3; do
  command -v "$p" >/dev/null || continue
  r=$(timeout 60 "$p" -c 'import torch; print(torch.__version__, torch.cuda.is_available())' \
    2>/dev/null) || continue
  echo "$(command -v "$p"): torch $r" >>"$inv"
  if [[ "$r" == *True ]]; then
    py=$(command -v "$p") device=cuda
    break
  fi
done
echo "bench peer: $py on $device" >>"$inv"
note "gpu: $gpu (nvidia-smi), NVIDIA Vulkan ICD: ${icd:-none}, torch peer: $py on $device"
[[ $gpu == yes ]] || note "no NVIDIA GPU here: GPU-only checks skipped (nvidia-smi, CUDA peer);" \
  "the rest runs on the adapter WebGPU offers"

# ---- the checks, each with a time limit --------------------------------------------------------
part() { # name, seconds, command...
  local name=$1 limit=$2 t0=$SECONDS rc
  shift 2
  echo "== $name: $*" >"$OUT/$name.log"
  timeout -k 10 "$limit" "$@" >>"$OUT/$name.log" 2>&1
  rc=$?
  if [[ $rc == 124 || $rc == 137 ]]; then
    echo "== $name: stopped at its ${limit} s limit" >>"$OUT/$name.log"
  fi
  note "$name: exit $rc, $((SECONDS - t0)) s (limit $limit s)"
}
part doctor 60 deno run --allow-read --allow-write --allow-env main.ts doctor
if [[ $gpu == yes ]] && grep -q "software *yes" "$OUT/doctor.log"; then
  note "WARNING: an NVIDIA GPU is here but WebGPU chose a software adapter (see doctor.log)"
fi
tests=()
for t in gpu matmul softmax layernorm parity attention f16; do
  [[ -f "tests/${t}_test.ts" ]] && tests+=("tests/${t}_test.ts")
done
part tests 180 deno test --allow-read --allow-write --allow-env --allow-run "${tests[@]}"
grep -E "^(ok|FAILED)|passed|failed" "$OUT/tests.log" | tail -3 >>"$summary"
part bench 200 deno run --allow-read --allow-env --allow-sys=cpus --allow-run="$py" bench/main.ts \
  torch --quick --torch-python "$py" --torch-device "$device"
echo "done; results in $OUT" | tee -a "$summary"
