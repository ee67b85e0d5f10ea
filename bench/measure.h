#pragma once
// Measures the benchmarks report besides time: the peak resident memory of a
// case and this machine's SGEMM peak (the yardstick for GFLOP/s).
#include <ATen/ATen.h>
#include <malloc.h>

#include <fstream>
#include <string>

#include "baseline_runner.h"
#include "fovea/nn/kernels/caching_cpu_allocator.h"

namespace fovea::bench {

// Starts a new peak-memory window: cached blocks go back to the system (the
// caching allocator's, and the free memory glibc keeps at the top of its heap
// under select_kernels' trim threshold, which a fresh process running only
// this case would not hold) and the kernel's high-water mark (VmHWM) is reset
// to the current RSS. The baseline scripts do the same
// (bench/baseline_measure.py).
inline void reset_peak_memory() {
  nn::release_cached_cpu_memory();
  malloc_trim(0);
  std::ofstream("/proc/self/clear_refs") << "5";
}

// The process's peak resident memory since the last reset, in MB.
inline double peak_memory_mb() {
  std::ifstream status("/proc/self/status");
  std::string key;
  while (status >> key) {
    if (key == "VmHWM:") {
      double kb = 0;
      status >> kb;
      return kb / 1024.0;
    }
  }
  return 0.0;
}

// Best-of-n seconds of `f` and the peak memory over those runs.
struct Measurement {
  double seconds = 0, peak_mb = 0;
};
template <typename F>
Measurement measure(int repeats, F&& f) {
  reset_peak_memory();
  Measurement m;
  m.seconds = best_of(repeats, f);
  m.peak_mb = peak_memory_mb();
  return m;
}

// GFLOP/s of a float32 n×n×n matrix product (OpenBLAS through LibTorch), best
// of 5, with the current thread count: this machine's attainable peak.
inline double sgemm_peak_gflops(int64_t n = 2048) {
  at::Tensor a = at::randn({n, n}), b = at::randn({n, n}), c = at::empty({n, n});
  at::mm_out(c, a, b);  // warm-up
  const double s = best_of(5, [&] { at::mm_out(c, a, b); });
  return 2.0 * static_cast<double>(n) * n * n / s / 1e9;
}

}  // namespace fovea::bench
