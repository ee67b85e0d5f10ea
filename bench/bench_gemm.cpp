// bench_gemm: float32 matrix products as LibTorch runs them (at::mm, i.e.
// OpenBLAS here) against oneDNN's dnnl_sgemm (the library LibTorch already
// links for its convolutions), at the shapes that dominate the V1 models:
// the square 2048³ yardstick, the rank-1 readout's (Wc ⊗ Wy) · features GEMM
// and the 1×1 320→320 convolution as a GEMM. Prints GFLOP/s of each and the
// largest difference between the two results (issue 17: OpenBLAS 0.3.21 runs
// its AVX2 kernels on AVX-512 CPUs).
//   bench_gemm [--threads 2] [--repeats 3]
#include <dnnl.h>
#include <torch/torch.h>

#include <cstdio>
#include <map>
#include <string>

#include "baseline_runner.h"
#include "bench_options.h"
#include "measure.h"

namespace {

// C (m, n) = A (m, k) · B (k, n), all row-major and contiguous. oneDNN's
// sgemm is row-major too (unlike BLAS).
void dnnl_mm(const at::Tensor& a, const at::Tensor& b, at::Tensor& c) {
  const int64_t m = a.size(0), k = a.size(1), n = b.size(1);
  const dnnl_status_t status = dnnl_sgemm('N', 'N', m, n, k, 1.0f, a.data_ptr<float>(), k, b.data_ptr<float>(), n,
                                          0.0f, c.data_ptr<float>(), n);
  if (status != dnnl_success) throw std::runtime_error("dnnl_sgemm failed");
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, int64_t> opt = {{"--threads", 2}, {"--repeats", 3}};
  if (!fovea::bench::parse_options(argc, argv, opt)) return 2;
  at::set_num_threads(static_cast<int>(opt["--threads"]));
  const int repeats = static_cast<int>(opt["--repeats"]);
  torch::manual_seed(0);
  struct Shape {
    const char* name;
    int64_t m, k, n;
  };
  // Readout: 500 neurons, C·Ly = 320·33, B·Lx = 100·65. 1×1 conv: 320 out, 320 in, B·H·W = 100·33·65.
  const Shape shapes[] = {{"square 2048^3", 2048, 2048, 2048},
                          {"rank-1 readout (500 neurons, batch 100)", 500, 320 * 33, 100 * 65},
                          {"1x1 conv 320->320 (batch 100, 33x65)", 320, 320, 100 * 33 * 65}};
  std::printf("| GEMM | m | k | n | at::mm (s) | at::mm GFLOP/s | dnnl_sgemm (s) | dnnl_sgemm GFLOP/s | max |diff| / max |C| |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|\n");
  for (const auto& s : shapes) {
    const at::Tensor a = torch::randn({s.m, s.k}), b = torch::randn({s.k, s.n});
    at::Tensor c_torch = torch::empty({s.m, s.n}), c_dnnl = torch::empty({s.m, s.n});
    at::mm_out(c_torch, a, b);  // warm-up (and the pages of the outputs)
    dnnl_mm(a, b, c_dnnl);
    const double t_torch = fovea::bench::best_of(repeats, [&] { at::mm_out(c_torch, a, b); });
    const double t_dnnl = fovea::bench::best_of(repeats, [&] { dnnl_mm(a, b, c_dnnl); });
    const double flop = 2.0 * s.m * s.k * s.n;
    const double diff = (c_torch - c_dnnl).abs().max().item<double>() / c_torch.abs().max().item<double>();
    std::printf("| %s | %lld | %lld | %lld | %.3f | %.1f | %.3f | %.1f | %.1e |\n", s.name, (long long)s.m,
                (long long)s.k, (long long)s.n, t_torch, flop / t_torch / 1e9, t_dnnl, flop / t_dnnl / 1e9, diff);
  }
  std::printf("FMA peak (same threads): %.1f GFLOP/s\n", fovea::bench::fma_peak_gflops());
  return 0;
}
