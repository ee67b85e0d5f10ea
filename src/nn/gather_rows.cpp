// Row gathers with one memcpy per row (see the header).
#include "fovea/nn/gather_rows.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "fovea/error.h"

namespace fovea::nn {

at::Tensor gather_rows(const at::Tensor& src, const at::Tensor& rows) {
  if (!src.device().is_cpu() || !src.is_contiguous() || src.requires_grad() || src.dim() < 1)
    return src.index_select(0, rows);
  at::Tensor index = rows.to(at::kLong).contiguous();
  std::vector<int64_t> sizes = src.sizes().vec();
  sizes[0] = index.size(0);
  at::Tensor out = at::empty(sizes, src.options());
  const int64_t n = index.size(0);
  const int64_t row_bytes = src.numel() / std::max<int64_t>(src.size(0), 1) * static_cast<int64_t>(src.element_size());
  const int64_t* idx = index.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i)
    check(idx[i] >= 0 && idx[i] < src.size(0), "training data",
          "row index " + std::to_string(idx[i]) + " is out of range [0, " + std::to_string(src.size(0)) + ")");
  const auto* from = static_cast<const char*>(src.data_ptr());
  auto* to = static_cast<char*>(out.data_ptr());
  at::parallel_for(0, n, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) std::memcpy(to + i * row_bytes, from + idx[i] * row_bytes, row_bytes);
  });
  return out;
}

}  // namespace fovea::nn
