#!/usr/bin/env bash
# The retina job on built-in data: simulate two recording sessions of model
# ganglion cells (ON/OFF, sustained/transient, colour-opponent) with known
# ground truth, fit openretina's default core-readout model and the LN model,
# evaluate both against the repeated test movie, predict one session.
# Usage: scripts/demo_retina.sh [OUTPUT_DIR]   (default: demo_retina_out)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
bash "$ROOT/scripts/setup.sh" --cli-only
OUT="${1:-demo_retina_out}"
FOVEA="$ROOT/build/fovea"
mkdir -p "$OUT"
start=$(date +%s)

"$FOVEA" simulate retina "$OUT/data" --sessions 2 --neurons-per-session 30 --seed 0

echo "== LN model (openretina's LNP with a 31-frame temporal filter)"
"$FOVEA" train --config "$ROOT/configs/retina_lnp.yaml" data.dir="$OUT/data" output.dir="$OUT/ln" \
  data.stimulus_size=null data.val_clip_indices=null data.num_val_clips=4 training.batch_size=16 \
  training.max_epochs=10 --quiet
echo "== core-readout model (hoefling_2024 low-res architecture)"
"$FOVEA" train --config "$ROOT/configs/retina_demo.yaml" data.dir="$OUT/data" output.dir="$OUT/cnn" \
  training.batch_size=16 training.max_epochs=30
echo "== evaluation of the saved model"
"$FOVEA" eval --model "$OUT/cnn/model.safetensors" --data "$OUT/data" -o "$OUT/cnn_eval"
"$FOVEA" info "$OUT/cnn/model.safetensors"
corr() { sed -n 's/.*"corr_to_average": \([-0-9.e]*\).*/\1/p' "$1" | head -n 1; }
echo "correlation to the trial average (mean over neurons): LN $(corr "$OUT/ln/eval.json"), core-readout $(corr "$OUT/cnn/eval.json")"
echo "demo finished in $(( $(date +%s) - start )) s; outputs in $OUT/"
