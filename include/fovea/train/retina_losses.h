#pragma once
// openretina's training losses for (batch, time, neurons) responses
// (modules/losses). Models with valid temporal convolutions predict fewer
// frames than the target has: the loss compares the output with the last
// T_out frames of the target, i.e. target[:, lag:] with lag = T_target − T_out.
#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

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

// openretina's L1PoissonLoss3d: PoissonLoss3d + gamma_l1·Σ|o| (the mean |o|
// with avg; per neuron, the per-neuron means), an L1 penalty on the
// predicted rates for sparse firing.
at::Tensor l1_poisson_loss_3d(const at::Tensor& output, const at::Tensor& target, double gamma_l1 = 0.001,
                              const PoissonLoss3dOptions& options = {});

// openretina's MSE3d: Σ (o − y)² over (B, T_out, N) (it has no avg option).
at::Tensor mse_loss_3d(const at::Tensor& output, const at::Tensor& target);

// openretina's CorrelationLoss3d: for each (sample, neuron) the correlation
// over time, ρ = mean(δo·δy) / sqrt((mean δo² + eps)(mean δy² + eps)); the
// loss is −Σρ (−mean ρ with avg), so minimising it raises the correlation.
at::Tensor correlation_loss_3d(const at::Tensor& output, const at::Tensor& target, double eps = 1e-16,
                               bool avg = false);

// A training loss chosen by name, as a run config's `training.loss` names it.
struct RetinaLossOptions {
  std::string name = "poisson";  // poisson | l1_poisson | mse | correlation
  double gamma_l1 = 0.001;       // l1_poisson
  bool avg = false;              // poisson, l1_poisson, correlation: the mean instead of the sum
};
const std::vector<std::string>& retina_loss_names();
// Checks the name (an fovea::Error lists the known ones) and computes the loss.
at::Tensor retina_loss(const at::Tensor& output, const at::Tensor& target, const RetinaLossOptions& options);

// target[:, lag:] with lag = T_target − T_out, after checking the shapes;
// `loss` names the caller in errors.
at::Tensor align_target_3d(const at::Tensor& output, const at::Tensor& target, const char* loss);

}  // namespace fovea::train
