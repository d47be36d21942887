#!/usr/bin/env bash
# The LAMA experiment of issue 6 on the bundled synthetic world, end to end with the CLI
# (design and results: lama_world.md beside this script):
#   1. a tiny encoder whose tokenizer keeps the world's one-word names whole (model init --words),
#   2. masked-LM pretrained on data/world/corpus.arrow, which names every entity but states no
#      fact (model pretrain),
#   3. a fac adapter trained on the T-REx-style sentences that state every fact (train fac), and
#      the same adapter untrained (lr 0), a control for the extra width of its feature,
#   4. three linear MLM layers trained alike on data/world/corpus_seen.arrow, the fact-free lines
#      plus the fac sentences (no markers) of the facts about half of the entities: over the
#      encoder alone (k = 0), encoder + fac, encoder + untrained adapter (probe train-mlm),
#   5. LAMA cloze queries ranked over the world's 110 names (probe lama): the facts of the other
#      half (unseen: only the fac adapter saw them), then the seen half.
# With --ambiguous, step 3 trains on sentences whose words do not decide the relation (residence
# beside birthplace, formation beside headquarters, neutral templates), made by
# `data/make_world.ts --ambiguous`, so classifying them needs the (subject, object) pairs.
# About 6 minutes on an idle 2-core machine with software WebGPU (8 to 9 when shared).
# Usage: lama_world.sh [OUT] [--ambiguous]
set -euo pipefail
cd "$(dirname "$0")/../.."
out=runs/lama_world ambiguous=0
for a in "$@"; do
  case $a in
    --ambiguous) ambiguous=1 ;;
    -*) echo "usage: $0 [OUT] [--ambiguous]" >&2 && exit 2 ;;
    *) out=$a ;;
  esac
done
kadapter() { npx -y deno@2.9.6 run -A main.ts "$@"; }
rm -rf "$out"
mkdir -p "$out"
kadapter model init --preset tiny --words data/world/words.txt --out "$out/tiny" --seed 0
kadapter model pretrain --model "$out/tiny" --corpus data/world/corpus.arrow \
  --dev data/world/corpus.arrow --out "$out/pretrain" --steps 600 --batch 32 --lr 5e-3 \
  --warmup 30 --eval-every 200 --seed 1
encoder="$out/pretrain/model"
train=data/world/trex_train.arrow dev=data/world/trex_dev.arrow fac_steps=300
if ((ambiguous)); then
  npx -y deno@2.9.6 run --allow-read --allow-write data/make_world.ts --ambiguous "$out/data"
  # Dev: the neutral sentences only, so its F1 says whether the pairs were remembered (chance 50%).
  train="$out/data/trex_ambiguous_train.arrow" dev="$out/data/trex_ambiguous_neutral_dev.arrow"
  fac_steps=600
fi
adapter=(--adapter-size 64 --adapter-heads 4 --adapter-ffn 128 --adapter-layers 1 --batch 32)
kadapter train fac --model "$encoder" --train "$train" --dev "$dev" --out "$out/fac" \
  "${adapter[@]}" --lr 3e-3 --steps "$fac_steps" --warmup 20 --eval-every 100 --seed 2
# The same seed gives the same initial weights; lr 0 leaves them as they are.
kadapter train fac --model "$encoder" --train "$train" --out "$out/untrained" "${adapter[@]}" \
  --lr 0 --steps 1 --seed 2
mlm=(--corpus data/world/corpus_seen.arrow --steps 400 --batch 32 --lr 5e-3 --seed 3)
kadapter probe train-mlm --model "$encoder" "${mlm[@]}" --out "$out/mlm_encoder"
kadapter probe train-mlm --model "$encoder" --adapters "fac=$out/fac/adapter" "${mlm[@]}" \
  --out "$out/mlm_fac"
kadapter probe train-mlm --model "$encoder" --adapters "fac=$out/untrained/adapter" "${mlm[@]}" \
  --out "$out/mlm_untrained"
for half in unseen seen; do
  kadapter data convert --format lama-trex --input "data/world/facts_$half.jsonl" \
    --relations data/world/relations.jsonl --out "$out/lama_$half.arrow"
  for model in encoder fac untrained; do
    adapters=()
    [[ $model == encoder ]] || adapters=(--adapters "fac=$out/$model/adapter")
    kadapter probe lama --model "$encoder" "${adapters[@]}" --mlm "$out/mlm_$model/mlm" \
      --data "$out/lama_$half.arrow" --common-vocab data/world/words.txt \
      --out "$out/probe_${model}_$half"
  done
done
# One table: macro P@1 / P@10 / MRR over relations, per model and half.
npx -y deno@2.9.6 eval --ext=ts '
const out = Deno.args[0], pct = (x: number) => (100 * x).toFixed(2);
const rows = ["| model | half | P@1 | P@10 | MRR |", "|---|---|---:|---:|---:|"];
for (const half of ["unseen", "seen"]) {
  for (const m of ["encoder", "fac", "untrained"]) {
    const r = JSON.parse(Deno.readTextFileSync(`${out}/probe_${m}_${half}/results.json`));
    const name = m === "encoder" ? "encoder+mlm" : "encoder+adapters";
    const add = (label: string, s: { p1: number; p10: number; mrr: number }) =>
      rows.push(`| ${label} | ${half} | ${pct(s.p1)} | ${pct(s.p10)} | ${s.mrr.toFixed(4)} |`);
    if (m === "encoder") add("encoder, own MLM head", r.models.encoder.macro);
    add({ encoder: "encoder + layer (k = 0)", fac: "encoder + fac + layer",
      untrained: "encoder + untrained adapter + layer" }[m]!, r.models[name].macro);
  }
}
const table = rows.join("\n") + "\n";
Deno.writeTextFileSync(`${out}/summary.md`, table);
console.log(table);
' "$out"
