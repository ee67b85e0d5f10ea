#include "data/global_zscore.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace fovea::data {

void zscore_globally(at::Tensor& images) {
  const int64_t total = images.numel();
  if (total == 0) return;
  const int64_t n = std::max<int64_t>(images.size(0), 1), per_image = total / n;
  float* x = images.data_ptr<float>();
  // Per-image partial sums, then a sequential sum over images: the same
  // numbers whatever the split between threads.
  std::vector<double> partial(n);
  auto sum_per_image = [&](auto&& term) {
    at::parallel_for(0, n, 64, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        double s = 0.0;
        for (int64_t j = 0; j < per_image; ++j) s += term(x[i * per_image + j]);
        partial[i] = s;
      }
    });
    double s = 0.0;
    for (double p : partial) s += p;
    return s;
  };
  const double mean = sum_per_image([](float v) { return static_cast<double>(v); }) / static_cast<double>(total);
  const double var = sum_per_image([mean](float v) { return (v - mean) * (v - mean); }) / static_cast<double>(total);
  const double std = std::sqrt(var);
  const float m = static_cast<float>(mean), s = static_cast<float>(std);
  at::parallel_for(0, total, 1 << 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) x[i] = std > 0.0 ? (x[i] - m) / s : x[i] - m;
  });
}

}  // namespace fovea::data
