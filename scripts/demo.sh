#!/usr/bin/env bash
# The main job on built-in data: simulate a small V1 population with known
# receptive fields, fit the full model (16-320 architecture on 33x65 images)
# and the ridge baseline, evaluate both against the repeated test set.
# Usage: scripts/demo.sh [OUTPUT_DIR]   (default: demo_out)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# Builds only the library and the command line; the tests and benchmarks are
# built by scripts/setup.sh without options (the README's test command).
bash "$ROOT/scripts/setup.sh" --cli-only
OUT="${1:-demo_out}"
FOVEA="$ROOT/build/fovea"
mkdir -p "$OUT"
start=$(date +%s)

"$FOVEA" simulate v1 "$OUT/data" --neurons 40 --train-images 1500 --test-images 100 --seed 0

DATA="data.images=$OUT/data/images.npy data.responses=$OUT/data/responses.npz data.truth=$OUT/data/ground_truth.npz"
echo "== ridge regression baseline"
"$FOVEA" train --config "$ROOT/configs/v1_demo_ridge.yaml" $DATA output.dir="$OUT/ridge" --quiet
echo "== full model"
"$FOVEA" train --config "$ROOT/configs/v1_demo.yaml" $DATA output.dir="$OUT/full" training.period_epochs=[12,4]
echo "== evaluation of the saved full model"
"$FOVEA" eval --model "$OUT/full/model.safetensors" --data "$OUT/data" -o "$OUT/full_eval"
feve() { sed -n 's/.*"feve": \([-0-9.e]*\).*/\1/p' "$1" | head -n 1; }
echo "FEVE on the test set (neurons with FEV > 0.15): ridge $(feve "$OUT/ridge/eval.json"), full model $(feve "$OUT/full/eval.json")"
echo "demo finished in $(( $(date +%s) - start )) s; outputs in $OUT/"
