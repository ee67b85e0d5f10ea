// minimodel's masked Poisson loss and masked validation score (monkey_train).
#include "fovea/train/masked_poisson.h"

#include <ATen/ATen.h>

#include <limits>

#include "fovea/error.h"

namespace fovea::train {

at::Tensor masked_poisson_per_neuron(const at::Tensor& prediction, const at::Tensor& target, const at::Tensor& mask) {
  check(prediction.sizes() == target.sizes() && mask.sizes() == target.sizes(), "masked Poisson loss",
        "prediction, target and mask must have the same (batch, neurons) shape");
  at::Tensor real = mask.to(at::kBool);
  // The missing targets are zeroed first: a NaN there would reach the
  // gradient through the branch that where() leaves out.
  at::Tensor y = target.masked_fill(real.logical_not(), 0.0);
  at::Tensor per_trial = at::where(real, prediction - y * at::log(prediction), at::zeros_like(prediction));
  return per_trial.sum(0) / (real.sum(0).to(prediction.scalar_type()) + 1e-6);
}

double masked_variance_explained(const at::Tensor& prediction, const at::Tensor& target, const at::Tensor& mask) {
  check(prediction.sizes() == target.sizes() && mask.sizes() == target.sizes(), "masked variance explained",
        "prediction, target and mask must have the same (trials, neurons) shape");
  at::Tensor real = mask.to(at::kBool);
  at::Tensor y = target.to(at::kDouble), p = prediction.to(at::kDouble);
  at::Tensor zero = at::zeros_like(y);
  at::Tensor count = real.sum(0).to(at::kDouble);
  at::Tensor mean = at::where(real, y, zero).sum(0) / count;
  at::Tensor resid = at::where(real, (y - p).pow(2), zero).sum(0);
  at::Tensor total = at::where(real, (y - mean).pow(2), zero).sum(0);
  at::Tensor score = 1.0 - resid / total;
  at::Tensor finite = score.isfinite();
  if (!finite.any().item<bool>()) return std::numeric_limits<double>::quiet_NaN();
  return score.masked_select(finite).mean().item<double>();
}

}  // namespace fovea::train
