#!/usr/bin/env bash
# Höfling-scale retina training (issue 17): a simulated dataset the size of
# the Höfling et al. 2024 recordings (11 sessions × 60 cells, 16,200 training
# frames, 750 test frames repeated 3 times, 2 colours, 18×16 pixels) trained
# with configs/retina_hoefling_2024_low_res.yaml at batch 32 for a few
# epochs; prints each epoch's seconds (metrics.csv, which counts training and
# validation) and their median. openretina's published training notebook for
# this model reports 3.16 s per epoch on a GPU.
#   bench/hoefling_scale_epoch.sh [BUILD_DIR=build] [EPOCHS=4] [THREADS=2]
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
epochs="${2:-4}"
threads="${3:-2}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

"$build/fovea" simulate retina "$work/data" --sessions 11 --neurons-per-session 60 \
  --train-frames 16200 --test-frames 750 --repeats 3 --seed 0 > /dev/null
"$build/fovea" train --config configs/retina_hoefling_2024_low_res.yaml --threads "$threads" \
  data.layout=hdf5 data.dir="$work/data" output.dir="$work/run" training.batch_size=32 training.max_epochs="$epochs" \
  training.patience=1000 > "$work/train.log" 2>&1

echo "Höfling-scale epochs (11 sessions × 60 cells, 16,200 frames, batch 32, $threads threads):"
column -s, -t < "$work/run/metrics.csv"
# The first epoch includes one-off costs (oneDNN primitives, the allocator's first blocks).
tail -n +3 "$work/run/metrics.csv" | cut -d, -f7 | sort -g |
  awk '{ s[NR] = $1 } END { if (NR) printf "median of epochs 2..: %.3f s per epoch\n", (NR % 2) ? s[(NR + 1) / 2] : (s[NR / 2] + s[NR / 2 + 1]) / 2 }'
