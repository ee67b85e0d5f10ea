// The Sridhar 2025 STA locations (openretina's get_location_from_sta):
// where each cell's spike-triggered average varies most over time.
#include <ATen/ATen.h>

#include "data/tensor_checks.h"
#include "fovea/data/sridhar_dataset.h"
#include "fovea/error.h"
#include "fovea/io/npy.h"

namespace fovea::data {

std::array<int64_t, 2> sridhar_sta_location(const std::string& file, bool flip_sta) {
  // big_crops of dataloader/sridhar_{nm,wn}_2025.yaml: (top, bottom, left, right)
  constexpr int64_t kTop = 35, kBottom = 35, kLeft = 55, kRight = 55;
  at::Tensor sta = io::read_npy(file);
  check(sta.dim() == 3, file, "the STA has shape " + shape_string(sta) + ", expected (frames, height, width)");
  check(sta.size(0) >= 1 && sta.size(1) > kTop + kBottom && sta.size(2) > kLeft + kRight, file,
        "the STA has shape " + shape_string(sta) + ": no frames, or frames smaller than the crop (35, 35, 55, 55)");
  sta = sta.to(at::kDouble);
  check_finite(sta, file, "STA");
  if (flip_sta) sta = sta.flip(1);  // np.flip(sta, axis=1), before the crop
  sta = sta.slice(1, kTop, sta.size(1) - kBottom).slice(2, kLeft, sta.size(2) - kRight);
  // np.var(axis=0) (ddof 0), then np.argmax: the first maximum in row-major order.
  const at::Tensor var = sta.var(0, /*unbiased=*/false).reshape({-1}).contiguous();
  const double* v = var.data_ptr<double>();
  int64_t best = 0;
  for (int64_t i = 1; i < var.numel(); ++i)
    if (v[i] > v[best]) best = i;
  const int64_t w = sta.size(2);
  return {best / w, best % w};
}

}  // namespace fovea::data
