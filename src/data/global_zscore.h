#pragma once
// One mean and one std (ddof 0) over every value of a float32 tensor, as
// NumPy's `img -= img.mean(); img /= img.std()`, accumulated in float64 in a
// fixed order so that the result does not depend on the thread count.
#include <ATen/ATen.h>

namespace fovea::data {

// In place on a contiguous float32 tensor whose first axis indexes images.
// A constant tensor (std 0) is only centred: NumPy would give NaN everywhere.
void zscore_globally(at::Tensor& images);

}  // namespace fovea::data
