#pragma once
// openretina's training losses for (batch, time, neurons) responses
// (modules/losses). Models with valid temporal convolutions predict fewer
// frames than the target has: the loss compares the output with the last
// T_out frames of the target, i.e. target[:, lag:] with lag = T_target − T_out.
#include <ATen/core/Tensor.h>

namespace fovea::train {

// openretina's PoissonLoss3d: Σ (o − y·log(o + bias)) over (B, T_out, N),
// the negative Poisson log-likelihood without the log(y!) term.
struct PoissonLoss3dOptions {
  double bias = 1e-16;      // keeps log() finite where the prediction is 0
  bool per_neuron = false;  // (N): the mean over batch and time for each neuron
  bool avg = false;         // the mean over all elements instead of the sum
};

// `output` (B, T_out, N), `target` (B, T_target, N) with T_target >= T_out.
// Mismatched shapes are an fovea::Error.
at::Tensor poisson_loss_3d(const at::Tensor& output, const at::Tensor& target, const PoissonLoss3dOptions& options = {});

// target[:, lag:] with lag = T_target − T_out, after checking the shapes;
// `loss` names the caller in errors.
at::Tensor align_target_3d(const at::Tensor& output, const at::Tensor& target, const char* loss);

}  // namespace fovea::train
