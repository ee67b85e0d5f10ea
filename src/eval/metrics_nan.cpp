// minimodel's NaN-aware measures (metrics.py fev_nan, feve_nan, monkey_feve)
// with NumPy's nanmean/nanvar semantics.
#include "fovea/eval/metrics_nan.h"

#include <ATen/ATen.h>

#include <limits>
#include <string>

#include "fovea/error.h"

namespace fovea::eval {
namespace {

// np.nanmean over `dims`: NaN where every value is NaN (0 / 0).
at::Tensor nan_mean(const at::Tensor& x, at::IntArrayRef dims) {
  at::Tensor count = x.isnan().logical_not().sum(dims).to(at::kDouble);
  return at::nansum(x, dims) / count;
}

// np.nanvar(ddof=1) over `dims`: NaN with fewer than 2 values (NumPy warns
// "Degrees of freedom <= 0" and returns NaN).
at::Tensor nan_var1(const at::Tensor& x, at::IntArrayRef dims) {
  at::Tensor count = x.isnan().logical_not().sum(dims, /*keepdim=*/true).to(at::kDouble);
  at::Tensor mean = at::nansum(x, dims, /*keepdim=*/true) / count;
  at::Tensor var = at::nansum((x - mean).pow(2), dims, /*keepdim=*/true) / (count - 1.0);
  var = var.masked_fill(count <= 1.0, std::numeric_limits<double>::quiet_NaN());
  for (auto it = dims.rbegin(); it != dims.rend(); ++it) var = var.squeeze(*it);
  return var;
}

at::Tensor as_responses(const at::Tensor& responses, const char* measure) {
  check(responses.dim() == 3, measure,
        "responses must be (stimuli, repeats, neurons), got " + std::to_string(responses.dim()) + " dimensions");
  check(at::isFloatingType(responses.scalar_type()), measure, "responses must be floating point (NaN = missing)");
  return responses.to(at::kDouble);
}

at::Tensor as_predictions(const at::Tensor& predictions, const at::Tensor& y, const char* measure) {
  check(predictions.dim() == 2 && predictions.size(0) == y.size(0) && predictions.size(1) == y.size(2), measure,
        "predictions must be (stimuli, neurons) = (" + std::to_string(y.size(0)) + ", " + std::to_string(y.size(2)) +
            ")");
  return predictions.to(at::kDouble);
}

}  // namespace

at::Tensor fev_nan(const at::Tensor& responses) {
  at::Tensor y = as_responses(responses, "fev_nan");
  at::Tensor total = nan_var1(y, {0, 1});
  at::Tensor noise = nan_mean(nan_var1(y, {1}), {0});
  return (total - noise) / total;
}

FevFeve feve_nan(const at::Tensor& responses, const at::Tensor& predictions, bool multi_repeats) {
  at::Tensor y = as_responses(responses, "feve_nan");
  at::Tensor p = as_predictions(predictions, y, "feve_nan");
  at::Tensor total = nan_var1(y, {0, 1});
  at::Tensor noise = multi_repeats ? nan_mean(nan_var1(y, {1}), {0}) : at::zeros_like(total);
  at::Tensor mse = nan_mean((y - p.unsqueeze(1)).pow(2), {0, 1});
  return {(total - noise) / total, 1.0 - (mse - noise) / (total - noise)};
}

at::Tensor first_repetitions(const at::Tensor& responses, const at::Tensor& repetitions) {
  at::Tensor y = as_responses(responses, "monkey_feve");
  check(repetitions.dim() == 1 && repetitions.size(0) == y.size(2), "monkey_feve",
        "repetitions must hold one count per neuron (" + std::to_string(y.size(2)) + ")");
  check(!at::isFloatingType(repetitions.scalar_type()) && repetitions.scalar_type() != at::kBool, "monkey_feve",
        "repetitions must be integers");
  at::Tensor reps = repetitions.to(at::kLong);
  check(repetitions.numel() == 0 || reps.min().item<int64_t>() >= 0, "monkey_feve",
        "repetitions must be >= 0");
  // keep[r, n] = r < repetitions[n]
  at::Tensor keep = at::arange(y.size(1), at::kLong).unsqueeze(1) < reps.unsqueeze(0);
  return y.masked_fill(keep.logical_not().unsqueeze(0), std::numeric_limits<double>::quiet_NaN());
}

FevFeve monkey_feve(const at::Tensor& responses, const at::Tensor& predictions, const at::Tensor& repetitions) {
  // Per neuron, minimodel takes nanmean/nanvar over spks[:repetitions[n], :, n]:
  // the same as feve_nan with the later repeats missing.
  return feve_nan(first_repetitions(responses, repetitions), predictions);
}

at::Tensor monkey_fev(const at::Tensor& responses, const at::Tensor& repetitions) {
  return fev_nan(first_repetitions(responses, repetitions));
}

}  // namespace fovea::eval
