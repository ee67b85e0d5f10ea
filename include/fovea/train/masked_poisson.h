#pragma once
// minimodel's loss and validation score for recordings with missing trials
// (model_trainer.monkey_train_epoch / monkey_val_epoch): only the real
// responses (mask true) count.
#include <ATen/core/Tensor.h>

namespace fovea::train {

// Per neuron Σ_batch mask·(ŷ − y·log ŷ) / (Σ_batch mask + 1e-6), (neurons,).
// A missing response contributes nothing, whatever its value (NaN included):
// it is selected out, not multiplied by 0.
at::Tensor masked_poisson_per_neuron(const at::Tensor& prediction, const at::Tensor& target, const at::Tensor& mask);

// Per neuron 1 − Σ_real (y − ŷ)² / Σ_real (y − ȳ)², ȳ the mean of the real
// responses; the mean over the neurons with a finite value (NaN when none).
double masked_variance_explained(const at::Tensor& prediction, const at::Tensor& target, const at::Tensor& mask);

}  // namespace fovea::train
