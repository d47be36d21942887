#!/usr/bin/env bash
# The LAMA experiment of issue 6 on the bundled synthetic world, end to end with the CLI:
#   1. a tiny encoder whose tokenizer keeps the world's one-word names whole (model init --words),
#   2. masked-LM pretrained on data/world/corpus.arrow, which names every entity but states no
#      fact (model pretrain),
#   3. a fac adapter trained on the T-REx-style sentences that do state the facts (train fac),
#   4. a linear MLM layer on cat(encoder, adapter) trained on the same fact-free corpus
#      (probe train-mlm),
#   5. LAMA cloze queries for every fact, ranked over the world's names (probe lama), the
#      encoder's own masked-LM head beside encoder + adapter.
# About 4 minutes on a 2-core machine with software WebGPU. Usage: lama_world.sh [OUT]
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-runs/lama_world}
kadapter() { npx -y deno@2.9.6 run -A main.ts "$@"; }
rm -rf "$out"
mkdir -p "$out"
kadapter model init --preset tiny --words data/world/words.txt --out "$out/tiny" --seed 0
kadapter model pretrain --model "$out/tiny" --corpus data/world/corpus.arrow \
  --dev data/world/corpus.arrow --out "$out/pretrain" --steps 600 --batch 32 --lr 5e-3 \
  --warmup 30 --eval-every 200 --seed 1
encoder="$out/pretrain/model"
kadapter train fac --model "$encoder" --train data/world/trex_train.arrow \
  --dev data/world/trex_dev.arrow --out "$out/fac" --adapter-size 64 --adapter-heads 4 \
  --adapter-ffn 128 --adapter-layers 1 --batch 32 --lr 3e-3 --steps 300 --warmup 20 \
  --eval-every 100 --seed 2
kadapter probe train-mlm --model "$encoder" --adapters "fac=$out/fac/adapter" \
  --corpus data/world/corpus.arrow --out "$out/mlm" --steps 400 --batch 32 --lr 5e-3 --seed 3
kadapter data convert --format lama-trex --in data/world/facts.jsonl \
  --relations data/world/relations.jsonl --out "$out/lama.arrow"
kadapter probe lama --model "$encoder" --adapters "fac=$out/fac/adapter" --mlm "$out/mlm/mlm" \
  --data "$out/lama.arrow" --common-vocab data/world/words.txt --out "$out/probe"
