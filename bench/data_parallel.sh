#!/usr/bin/env bash
# Data-parallel training throughput (issue 18): `fovea train --nproc-per-node
# N` with N = 1 and 2 workers of one thread each, on `fovea simulate` data,
# for the V1 and the retina recipe. Prints rank 0's samples per second in the
# training steps (forward, backward, gradient all-reduce) and the all-reduce
# time per optimiser step, the median of REPEATS runs, alternating 1 and 2
# workers so that a busy machine slows both alike. The all-reduce time per
# step and the step time give the projection to more machines:
#   step(N) ≈ compute(1) / N + all-reduce(N).
# Usage: bench/data_parallel.sh [path/to/fovea]   (REPEATS=3 by default)
set -euo pipefail
FOVEA=${1:-${FOVEA:-build-py/fovea}}
REPEATS=${REPEATS:-3}
CONFIGS=$(cd "$(dirname "$0")/../configs" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export OMP_NUM_THREADS=1

"$FOVEA" simulate v1 "$WORK/v1" --neurons 50 --train-images 1000 --test-images 20 --seed 1 >/dev/null
"$FOVEA" simulate retina "$WORK/retina" --sessions 2 --neurons-per-session 20 --train-frames 3000 --seed 1 >/dev/null

v1_args=(train --config "$CONFIGS/v1_demo.yaml" model.core.n_conv_mid=64 "training.period_epochs=[2]"
         training.batch_size=50 "data.images=$WORK/v1/images.npy" "data.responses=$WORK/v1/responses.npz" --threads 1)
retina_args=(train --config "$CONFIGS/retina_demo.yaml" "data.dir=$WORK/retina" training.max_epochs=2 --threads 1)

# One run; prints "samples_per_s allreduce_ms" from rank 0's data-parallel line.
run() {
  local n=$1; shift
  "$FOVEA" "$@" "output.dir=$WORK/out" --nproc-per-node "$n" 2>&1 |
    sed -n 's/.*data-parallel: .* \([0-9.]*\) samples\/s in the training steps, gradient all-reduce \([0-9.]*\) ms per step.*/\1 \2/p'
  rm -rf "$WORK/out"
}

median() { sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }

for recipe in v1 retina; do
  declare -n args="${recipe}_args"
  : >"$WORK/1.txt"; : >"$WORK/2.txt"
  for ((r = 0; r < REPEATS; ++r)); do
    run 1 "${args[@]}" >>"$WORK/1.txt"
    run 2 "${args[@]}" >>"$WORK/2.txt"
  done
  for n in 1 2; do
    sps=$(cut -d' ' -f1 "$WORK/$n.txt" | median)
    ms=$(cut -d' ' -f2 "$WORK/$n.txt" | median)
    printf '%-7s %d worker(s) x 1 thread: %8.1f samples/s, all-reduce %7.3f ms per step (median of %d)\n' \
      "$recipe" "$n" "$sps" "$ms" "$REPEATS"
  done
  unset -n args
done
