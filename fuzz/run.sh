#!/bin/sh
# Runs one harness: fuzz/run.sh <build-dir> <harness> [seconds] [extra libFuzzer flags...]
# e.g. fuzz/run.sh build-fuzz npy 180. The seeds are written once by
# fuzz_seeds into <build-dir>/fuzz/seeds/<harness>; the corpus grows in
# <build-dir>/fuzz/corpus/<harness>, and inputs that found a fault land in
# <build-dir>/fuzz/findings/<harness>/ (crash-*, timeout-*, oom-*, leak-*).
set -eu
build=$1
name=$2
seconds=${3:-180}
shift 2
[ $# -gt 0 ] && shift
fuzz=$build/fuzz
[ -d "$fuzz/seeds" ] || "$fuzz/fuzz_seeds" "$fuzz/seeds"
mkdir -p "$fuzz/corpus/$name" "$fuzz/findings/$name"
# detect_leaks=0: LibTorch and HDF5 keep process-lifetime caches that LeakSanitizer reports at exit.
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:allocator_may_return_null=1} \
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
exec "$fuzz/fuzz_$name" "$fuzz/corpus/$name" "$fuzz/seeds/$name" \
  -rss_limit_mb=2048 -malloc_limit_mb=512 -timeout=5 -max_total_time="$seconds" \
  -artifact_prefix="$fuzz/findings/$name/" -print_final_stats=1 "$@"
