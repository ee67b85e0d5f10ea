#pragma once
// openretina's point Gaussian readout (modules/readout/gaussian.py,
// PointGaussianReadout, used through MultiSampledGaussianReadout of
// multi_readout.py). Every frame of the core output is read out on its own
// ((B, C, T, H', W') -> (B·T, C, H', W')): per neuron, the features at one
// position, bilinearly interpolated (grid_sample, align_corners=True, zeros
// outside), weighted per channel, plus a bias, then the nonlinearity
// (softplus by default). In training the position is drawn from a Gaussian
// per neuron, clamp(σ·z + μ, ±1) with z ~ N(0, 1); in eval it is μ.
// Keys as openretina's: readout.<session>.{_mu (1,N,1,2), sigma, _features (1,C,1,N), bias (N)}.
// grid_sample's coordinates: [..., 0] runs along the width, [..., 1] along the height.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "fovea/nn/multi_session_readout.h"

namespace fovea::nn {

// The constructor arguments of MultiSampledGaussianReadout, with openretina's names.
struct PointGaussianReadoutOptions {
  bool bias = true;
  double init_mu_range = 0.1;     // _mu ~ U(±init_mu_range), in (0, 1]
  double init_sigma_range = 1.0;  // full: sigma ~ U(±s); otherwise sigma = s; > 0
  bool batch_sample = true;       // one position per frame, else one per batch
  bool align_corners = true;
  std::string gauss_type = "full";  // "full" (1,N,2,2), "uncorrelated" (1,N,1,2), "isotropic" (1,N,1,1)
  double gamma = 1.0;               // regulariser weight on the feature L1
  bool reg_avg = false;             // feature L1 as a mean instead of a sum
  std::string nonlinearity = "softplus";  // softplus, exp, relu, elu, sigmoid, identity

  // Reads openretina's names (also the older wrapper's gamma_readout, and
  // nonlinearity_function as a name or a kept Python function).
  // grid_mean_predictor, shared_features, shared_grid and init_grid must be
  // null: fovea::Error otherwise.
  static PointGaussianReadoutOptions from_json(const Json& spec);
  void validate(const std::string& where) const;
};

// One session.
class PointGaussianReadout : public Readout {
 public:
  // `in_shape` (C, T, H', W'); `mean_activity` (N), when defined and with a bias, initialises the bias.
  PointGaussianReadout(const std::vector<int64_t>& in_shape, int64_t outdims,
                       const PointGaussianReadoutOptions& options = {}, const at::Tensor& mean_activity = {});

  // (B, C, T, H', W') -> (B, T, N): the nonlinearity of forward_frames over all frames.
  at::Tensor forward(const at::Tensor& x, const std::string& data_key = "") override;
  // openretina's PointGaussianReadout.forward: (B', C, H', W') -> (B', N), no nonlinearity.
  // `sample`: draw positions (default: in training mode only).
  at::Tensor forward_frames(const at::Tensor& frames, std::optional<bool> sample = std::nullopt);
  // gamma · Σ|_features| (mean with reg_avg).
  at::Tensor regularizer(const std::string& data_key = "") override;
  int64_t n_neurons(const std::string& = "") const override { return outdims_; }

  // The positions (batch, N, 1, 2), each in [-1, 1]. Clamps the stored _mu
  // to [-1, 1] first, as openretina does on every call.
  at::Tensor sample_grid(int64_t batch_size, bool sample);
  // bias := mean_activity (N), or 0 when undefined; nothing without a bias.
  void initialize_bias(const at::Tensor& mean_activity);
  const PointGaussianReadoutOptions& options() const { return options_; }

  at::Tensor _mu;        // (1, N, 1, 2)
  at::Tensor sigma;      // (1, N, 2, 2) | (1, N, 1, 2) | (1, N, 1, 1)
  at::Tensor _features;  // (1, C, 1, N), starts at 1/C
  at::Tensor bias;       // (N), undefined without options.bias (no key, as openretina)

 private:
  int64_t outdims_;
  PointGaussianReadoutOptions options_;
};

// One PointGaussianReadout per session (openretina's MultiSampledGaussianReadout).
class MultiSampledGaussianReadout : public MultiSessionReadout<PointGaussianReadout> {
 public:
  MultiSampledGaussianReadout(const std::vector<int64_t>& in_shape,
                              const std::map<std::string, int64_t>& n_neurons_dict,
                              const PointGaussianReadoutOptions& options = {},
                              const std::map<std::string, at::Tensor>& mean_activity_dict = {});
};

}  // namespace fovea::nn
