#pragma once
// openretina's factorized ("Klindt") readout (modules/readout/factorized.py,
// MultiFactorizedReadout in multi_readout.py): per neuron a free-form spatial
// mask over the core's H'×W' grid and a weight per core channel,
//   y[b,t,n] = softplus(Σ_c w[c,n] Σ_p x[b,c,t,p]·m[p,n] (+ bias[n])).
// Keys as openretina's:
//   readout.<session>.{mask_weights (H'W',N), feature_weights (C,N), bias (N),
//                      _input_weights_regularizer_spatial.laplace.filter}
// The legacy variant (klindt_readout.py, MultiKlindtReadoutWrapper) names the
// channel weights readout_weights, always trains the bias (0.5 at the start
// with readout_bias, else 0) and is linear unless readout_bias is set.
#include <array>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "fovea/nn/multi_session_readout.h"
#include "fovea/nn/retina_layers.h"

namespace fovea::nn {

// The constructor arguments of MultiFactorizedReadout, with openretina's names.
struct FactorizedReadoutOptions {
  double mask_l1_reg = 0.0;
  double weights_l1_reg = 0.0;
  double laplace_mask_reg = 0.0;
  bool readout_bias = false;
  std::string weights_constraint;  // "", "abs", "norm" or "absnorm"
  std::string mask_constraint;     // "" or "abs"
  // (N, 1, H0, W0): the centre H'×W' crop becomes the masks (else init_scales[0]).
  at::Tensor init_mask;
  // (C, N): the initial channel weights (else init_scales[1]).
  at::Tensor init_weights;
  // {(mean, std) of the masks, (mean, std) of the channel weights}.
  std::optional<std::array<std::array<double, 2>, 2>> init_scales;
  bool readout_reg_avg = false;  // regulariser reduction "mean" instead of "sum"
  bool legacy_klindt = false;    // KlindtReadoutWrapper3D of klindt_readout.py

  // Reads openretina's argument names; the tensors as nested lists or {"shape", "data"}.
  static FactorizedReadoutOptions from_json(const Json& spec);
  // Unknown constraint names and missing initialisations raise fovea::Error.
  void validate(const std::string& where) const;
};

// One session. Input (B, C, T, H', W') -> output (B, T, N).
class FactorizedReadout : public Readout {
 public:
  // `in_shape` (C, T, H', W'); `mean_activity` (N), when defined, is copied
  // into the bias (openretina's initialize; the legacy variant ignores it).
  FactorizedReadout(const std::vector<int64_t>& in_shape, int64_t outdims, const FactorizedReadoutOptions& options,
                    const at::Tensor& mean_activity = {});

  // Applies the constraints to the stored weights first (in place, in eval too, as openretina).
  at::Tensor forward(const at::Tensor& x, const std::string& data_key = "") override;
  // mask_l1_reg·mean_n Σ_p|m| + weights_l1_reg·mean_n Σ_c|w| + laplace_mask_reg·Laplace;
  // with readout_reg_avg the Laplace term is divided by 3 (openretina's "mean" reduction).
  at::Tensor regularizer(const std::string& data_key = "") override;
  int64_t n_neurons(const std::string& = "") const override { return outdims_; }

  // The Laplace term as openretina computes it: FlatLaplaceL23dnorm (valid
  // 3×3) of mask_weights.reshape(-1, 1, 1, H', W'). That reshape of the
  // (H'W', N) matrix is not its transpose: for N > 1 the "images" it
  // smooths interleave neurons. Kept as the reference computes it, so that
  // losses match; the true per-neuron masks are spatial_masks().
  at::Tensor laplace_term();
  // The masks as images (N, H', W').
  at::Tensor spatial_masks() const;
  // openretina's apply_constraints (no-op without constraints).
  void apply_constraints();
  const FactorizedReadoutOptions& options() const { return options_; }

  at::Tensor mask_weights;     // (H'W', N)
  at::Tensor feature_weights;  // (C, N); registered as readout_weights in the legacy variant
  at::Tensor bias;             // (N): parameter with readout_bias (always in the legacy variant), else a buffer of zeros
  FlatLaplaceL23dnorm _input_weights_regularizer_spatial{nullptr};

 private:
  int64_t outdims_, h_, w_;
  FactorizedReadoutOptions options_;
};

// One FactorizedReadout per session (openretina's MultiFactorizedReadout;
// MultiKlindtReadoutWrapper with options.legacy_klindt).
class MultiFactorizedReadout : public MultiSessionReadout<FactorizedReadout> {
 public:
  MultiFactorizedReadout(const std::vector<int64_t>& in_shape, const std::map<std::string, int64_t>& n_neurons_dict,
                         const FactorizedReadoutOptions& options,
                         const std::map<std::string, at::Tensor>& mean_activity_dict = {});
};

}  // namespace fovea::nn
