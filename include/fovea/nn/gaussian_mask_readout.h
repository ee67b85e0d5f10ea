#pragma once
// openretina's default retina readout (modules/readout/factorized_gaussian.py
// and multi_readout.py): per neuron, a normalised isotropic Gaussian mask over
// the core's spatial grid, a weight per core channel, a scale and a bias, then
// softplus. One GaussianMaskReadout per session; MultiGaussianMaskReadout
// holds them under the session names, so the keys read as openretina's:
//   readout.<session>.{mask_mean,mask_log_var,grid,features,scale_param,bias}
#include <map>
#include <string>
#include <vector>

#include "fovea/nn/model.h"

namespace fovea::nn {

// The constructor options of GaussianMaskReadout, with openretina's names and defaults.
struct GaussianMaskReadoutOptions {
  bool scale = false;  // scale_param is trainable (else a buffer of ones)
  bool bias = true;    // bias is trainable (else a buffer of zeros)
  double gaussian_mean_scale = 1.0;
  double gaussian_var_scale = 1.0;
  bool positive = false;  // clamp the feature weights to >= 0 on every forward
  double mask_l1_reg = 1.0;
  double feature_weights_l1_reg = 1.0;
  // The legacy SpatialXFeature3d readout (the Höfling 2024 ensemble) stores
  // the same tensor as `scale`; the model's attribute stays scale_param.
  bool legacy_scale_name = false;

  // Reads the fields above from a readout spec; absent fields keep their default.
  static GaussianMaskReadoutOptions from_json(const Json& spec);
  Json to_json() const;
};

// One session. Input (B, C, T, H', W') -> output (B, T, N).
class GaussianMaskReadout : public Readout {
 public:
  // `in_shape` is the core's output shape (C, T, H', W'); T is not used.
  // `mean_activity` (N), when defined, initialises the bias (openretina's
  // initialize_bias); otherwise the bias starts at 0.
  GaussianMaskReadout(const std::vector<int64_t>& in_shape, int64_t outdims,
                      const GaussianMaskReadoutOptions& options = {}, const at::Tensor& mean_activity = {});

  // `data_key` is ignored: a GaussianMaskReadout is one session.
  at::Tensor forward(const at::Tensor& x, const std::string& data_key = "") override;
  // Sum reduction, as the models train with it:
  // mask_l1_reg·mask_l1() + feature_weights_l1_reg·feature_l1().
  at::Tensor regularizer(const std::string& data_key = "") override;
  int64_t n_neurons(const std::string& = "") const override { return outdims_; }

  // Σ exp(vs·log_var) + Σ (ms·μ)²; with `average` the two sums are means.
  at::Tensor mask_l1(bool average = false) const;
  // Σ |features|; with `average` the mean.
  at::Tensor feature_l1(bool average = false) const;
  // The normalised masks (N, H', W'): each sums to 1 (0 where it underflowed).
  at::Tensor get_mask() const;
  // bias := mean_activity (N), or 0 when undefined.
  void initialize_bias(const at::Tensor& mean_activity);

  const GaussianMaskReadoutOptions& options() const { return options_; }

  // openretina's grid (N, H', W', 2): [..., 0] runs over H' in ±H'/max(H',W'),
  // [..., 1] over W' in ±W'/max(H',W').
  static at::Tensor make_mask_grid(int64_t outdims, int64_t h, int64_t w);

  at::Tensor mask_mean;     // (N, 2), starts at 0
  at::Tensor mask_log_var;  // (N), starts at 0
  at::Tensor grid;          // buffer (N, H', W', 2)
  at::Tensor features;      // (1, C, 1, N) ~ N(1/C, 0.01)
  at::Tensor scale_param;   // (N) ~ N(1, 0.01) if options.scale, else buffer of ones
  at::Tensor bias;          // (N) parameter if options.bias, else buffer of zeros

 private:
  std::vector<int64_t> in_shape_;
  int64_t outdims_;
  GaussianMaskReadoutOptions options_;
};

// One GaussianMaskReadout per session, registered under the session name.
class MultiGaussianMaskReadout : public Readout {
 public:
  // `in_shape` (C, T, H', W'); `mean_activity_dict` optionally gives each
  // session's mean response to initialise its bias.
  MultiGaussianMaskReadout(const std::vector<int64_t>& in_shape, const std::map<std::string, int64_t>& n_neurons_dict,
                           const GaussianMaskReadoutOptions& options = {},
                           const std::map<std::string, at::Tensor>& mean_activity_dict = {});

  // (B, C, T, H', W') -> (B, T, N_session). data_key "" gives all sessions
  // concatenated along the neuron axis in sorted session order.
  at::Tensor forward(const at::Tensor& x, const std::string& data_key) override;
  // The session's regulariser (sum reduction); "" sums over all sessions.
  at::Tensor regularizer(const std::string& data_key) override;
  std::vector<std::string> sessions() const override;
  // The session's neuron count; "" the total over all sessions.
  int64_t n_neurons(const std::string& data_key) const override;

  // The readout of one session; fovea::Error naming the known sessions otherwise.
  std::shared_ptr<GaussianMaskReadout> session(const std::string& data_key) const;

 private:
  std::map<std::string, std::shared_ptr<GaussianMaskReadout>> readouts_;  // sorted by session name
};

// Registers the readout type "gaussian_mask" (spec: n_neurons_dict and the
// options above; the in_shape comes from the core's output shape). Called
// through register_builtin_modules() (retina_registration.cpp).
void register_gaussian_readouts();

}  // namespace fovea::nn
