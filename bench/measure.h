#pragma once
// Measures the benchmarks report besides time: the peak resident memory of a
// case and this machine's SGEMM peak (the yardstick for GFLOP/s).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <immintrin.h>

#include <atomic>
#include <fstream>
#include <string>

#include "baseline_runner.h"
#include "fovea/nn/process_allocator.h"

namespace fovea::bench {

// Starts a new peak-memory window: the free memory the allocator keeps goes
// back to the system (tcmalloc's, which a fresh process running only this
// case would not hold) and the kernel's high-water mark (VmHWM) is reset to
// the current RSS. The baseline scripts do the same
// (bench/baseline_measure.py).
inline void reset_peak_memory() {
  nn::release_free_memory();
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

// A table row of a measured case: its seconds and peak memory, and each
// side's operations for the work (flops.h).
inline Row measured_row(const std::string& name, const Measurement& m, const std::string& baseline_key,
                        double fovea_flop = 0, double baseline_flop = 0) {
  Row r{name, m.seconds, baseline_key, {}};
  r.fovea_mb = m.peak_mb;
  r.fovea_flop = fovea_flop;
  r.baseline_flop = baseline_flop;
  return r;
}

// GFLOP/s of a float32 n×n×n matrix product (OpenBLAS through LibTorch), best
// of 5, with the current thread count: this machine's attainable peak.
inline double sgemm_peak_gflops(int64_t n = 2048) {
  at::Tensor a = at::randn({n, n}), b = at::randn({n, n}), c = at::empty({n, n});
  at::mm_out(c, a, b);  // warm-up
  const double s = best_of(5, [&] { at::mm_out(c, a, b); });
  return 2.0 * static_cast<double>(n) * n * n / s / 1e9;
}

// The arithmetic peak of these cores: GFLOP/s of independent fused
// multiply-adds on registers (no memory traffic), one chain set per thread,
// with the widest vectors the CPU has (AVX-512, else AVX2 + FMA). OpenBLAS's
// SGEMM (above) reaches a part of it; oneDNN's convolutions, which PyTorch
// uses, can go past OpenBLAS's SGEMM and towards this.
namespace detail {
// 12 independent chains of v = v·a + b: enough to hide the FMA latency.
// The intrinsics make each step one fused instruction (ISO C++ does not contract a·b + c).
__attribute__((target("avx512f"))) inline float fma_chains_avx512(int64_t iterations) {
  const __m512 a = _mm512_set1_ps(0.999f), b = _mm512_set1_ps(1e-4f);
  __m512 acc[12];
  for (auto& v : acc) v = b;
  for (int64_t i = 0; i < iterations; ++i)
#pragma GCC unroll 12
    for (auto& v : acc) v = _mm512_fmadd_ps(v, a, b);
  float sum = 0;
  for (auto& v : acc) sum += _mm512_reduce_add_ps(v);
  return sum;
}
__attribute__((target("avx2,fma"))) inline float fma_chains_avx2(int64_t iterations) {
  const __m256 a = _mm256_set1_ps(0.999f), b = _mm256_set1_ps(1e-4f);
  __m256 acc[12];
  for (auto& v : acc) v = b;
  for (int64_t i = 0; i < iterations; ++i)
#pragma GCC unroll 12
    for (auto& v : acc) v = _mm256_fmadd_ps(v, a, b);
  float sum = 0;
  for (auto& v : acc) sum += _mm256_cvtss_f32(v);
  return sum;
}
}  // namespace detail

inline double fma_peak_gflops(int64_t iterations = 20'000'000) {
  const bool avx512 = __builtin_cpu_supports("avx512f");
  const int lanes = avx512 ? 16 : 8, threads = at::get_num_threads();
  std::atomic<float> sink{0};
  auto run = [&] {
    at::parallel_for(0, threads, 1, [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t)
        sink = sink + (avx512 ? detail::fma_chains_avx512(iterations) : detail::fma_chains_avx2(iterations));
    });
  };
  run();  // warm-up (clock ramp)
  const double s = best_of(3, run);
  return 2.0 * lanes * 12 * static_cast<double>(iterations) * threads / s / 1e9;
}

}  // namespace fovea::bench
