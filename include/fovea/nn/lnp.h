#pragma once
// openretina's linear-nonlinear-Poisson models:
//  * DummyCore (modules/core/base_core.py): passes the stimulus through
//    (after cutting the first frames, if asked); regulariser 0.
//  * LNPReadout / MultipleLNPReadout (modules/readout/linear_nonlinear_poison.py,
//    multi_readout.py): per neuron one spatial kernel over the whole frame
//    and every channel (Conv3d C→N, kernel (1, H, W)), then exp or another
//    nonlinearity; no temporal filter (fovea: optional, temporal_kernel_size). Keys:
//      readout.<session>.inner_product_kernel.{weight (N,C,T_k,H,W), bias (N)},
//      readout.<session>._smooth_reg_fn.laplace.filter
//  * SingleCellSeparatedLNP (models/linear_nonlinear.py): one neuron; a patch
//    around the receptive field is cut out, filtered by `rank` spatial kernels
//    (Conv3d C→rank, (1, h, w)), then by a temporal kernel over in_shape's
//    whole time axis (Conv3d rank→1, (T, 1, 1)), then the nonlinearity. In
//    fovea it is a readout (behind a DummyCore), so its keys are openretina's
//    with the "readout." prefix:
//      readout.{space_conv.weight, time_conv.weight, _smooth_reg_fn_spat.laplace.filter,
//               _smooth_reg_fn_temp.filter, [nonlinearity.b, nonlinearity.w]}
#include <torch/nn/cloneable.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

#include <array>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "fovea/nn/multi_session_readout.h"
#include "fovea/nn/retina_layers.h"

namespace fovea::nn {

// openretina's DummyCore, with an optional cut of the first frames.
class DummyCore : public Core {
 public:
  explicit DummyCore(int64_t cut_first_n_frames = 0);
  // (B, C, T, H, W) -> (B, C, T - cut, H, W).
  at::Tensor forward(const at::Tensor& input) override;
  std::vector<int64_t> output_shape(const std::vector<int64_t>& input_shape) override;
  int64_t cut_first_n_frames() const { return cut_; }

 private:
  int64_t cut_;
};

// openretina's smoothness regularisers of the LNP models, by class name:
//   "LaplaceL2norm"     Σ(Laplace(w)²) / (Σw² + 1e-6) over the (O·I) 2-D kernels of (O, I, h, w)
//   "GaussianLaplaceL2" the same with Laplace(w) weighted by 1 − a normalised Gaussian (σ = min(h, w)/4)
//                       centred on the kernel (needs the "same" padding 1)
//   "Laplace1d"         [-1, 2, -1] along the last axis of (O, I, T); see forward()
// `padding` is openretina's laplace_padding (null = 1, the "same" padding).
class SmoothnessRegularizerImpl : public torch::nn::Cloneable<SmoothnessRegularizerImpl> {
 public:
  SmoothnessRegularizerImpl(std::string name, std::optional<int64_t> padding, std::array<int64_t, 2> kernel = {0, 0});
  void reset() override;
  // The regulariser of a weight: (O, I, h, w) for the 2-D ones, (O, I, T) for
  // Laplace1d. openretina's Laplace1d returns the filtered weights
  // themselves, a (1, rank, T) tensor that cannot be a loss term; fovea
  // reduces it as the other terms are reduced: Σ(Laplace1d(w)²) / (Σw² + 1e-6),
  // computed for every rank component.
  at::Tensor forward(const at::Tensor& weight);
  const std::string& name() const { return name_; }

  Laplace laplace{nullptr};  // the 2-D ones: key `laplace.filter`
  at::Tensor filter;         // Laplace1d: key `filter` (1, 1, 3)
  at::Tensor gaussian;       // GaussianLaplaceL2's weighting (h, w); not a buffer, as in openretina

 private:
  std::string name_;
  int64_t padding_;
  std::array<int64_t, 2> kernel_;
};
TORCH_MODULE(SmoothnessRegularizer);

// The constructor arguments of LNPReadout / MultipleLNPReadout, with openretina's names.
struct LNPReadoutOptions {
  double smooth_weight = 0.0;
  double sparse_weight = 0.0;
  std::string smooth_regularizer = "LaplaceL2norm";  // or GaussianLaplaceL2
  std::optional<int64_t> laplace_padding;            // null = 1
  std::string nonlinearity = "exp";
  bool bias = false;
  // Frames of the linear filter. openretina's LNP readout filters space only
  // (1, a listed bug: "LNP has no temporal filter"); with more, each neuron's
  // kernel is a full space-time filter (C, temporal_kernel_size, H, W) over
  // the last frames, valid in time (the output has T − temporal_kernel_size + 1 frames).
  int64_t temporal_kernel_size = 1;

  static LNPReadoutOptions from_json(const Json& spec);
  void validate(const std::string& where) const;
};

// One session. Input (B, C, T, H, W) with (C, H, W) = in_shape's -> (B, T, N).
class LNPReadout : public Readout {
 public:
  // `mean_activity` (N), when defined and with a bias, is copied into the bias.
  LNPReadout(const std::vector<int64_t>& in_shape, int64_t outdims, const LNPReadoutOptions& options = {},
             const at::Tensor& mean_activity = {});
  at::Tensor forward(const at::Tensor& x, const std::string& data_key = "") override;
  // smooth_weight · laplace() + sparse_weight · weights_l1().
  at::Tensor regularizer(const std::string& data_key = "") override;
  int64_t n_neurons(const std::string& = "") const override { return outdims_; }

  // The smoothness regulariser of the kernels (N, C, H, W).
  at::Tensor laplace();
  // Mean |W| (Σ|W| with average = false).
  at::Tensor weights_l1(bool average = true) const;
  const LNPReadoutOptions& options() const { return options_; }

  torch::nn::Conv3d inner_product_kernel{nullptr};
  SmoothnessRegularizer _smooth_reg_fn{nullptr};

 private:
  int64_t outdims_;
  LNPReadoutOptions options_;
};

// One LNPReadout per session (openretina's MultipleLNPReadout).
class MultipleLNPReadout : public MultiSessionReadout<LNPReadout> {
 public:
  MultipleLNPReadout(const std::vector<int64_t>& in_shape, const std::map<std::string, int64_t>& n_neurons_dict,
                     const LNPReadoutOptions& options = {},
                     const std::map<std::string, at::Tensor>& mean_activity_dict = {});
};

// openretina's ParametrizedSoftplus with its defaults: w · softplus(a·x + b),
// a = 1 fixed (not in the state dict), b and w trained.
class ParametrizedSoftplusImpl : public torch::nn::Cloneable<ParametrizedSoftplusImpl> {
 public:
  ParametrizedSoftplusImpl() { reset(); }
  void reset() override;
  at::Tensor forward(const at::Tensor& x);
  at::Tensor b, w;
};
TORCH_MODULE(ParametrizedSoftplus);

// The constructor arguments of SingleCellSeparatedLNP, with openretina's names.
struct SingleCellSeparatedLNPOptions {
  // (C, T, H, W): T is the temporal kernel's length; H, W the full frame.
  // Empty: the core's output shape.
  std::vector<int64_t> in_shape;
  std::optional<std::array<int64_t, 2>> rf_location;  // (y, x); null = the frame centre (H//2, W//2)
  std::array<int64_t, 2> spat_kernel_size{15, 15};
  int64_t rank = 1;
  double smooth_weight_spat = 0.0;
  double smooth_weight_temp = 0.0;
  double sparse_weight = 0.0;
  std::string smooth_regularizer_spat = "LaplaceL2norm";
  std::string smooth_regularizer_temp = "Laplace1d";
  std::optional<int64_t> laplace_padding;
  std::string nonlinearity = "exp";  // or parametrized_softplus, softplus, ...
  bool normalize_weights = true;
  // The session name the neuron belongs to ("" if none).
  std::string session;

  // fit_gaussian: true is not supported (fovea::Error).
  static SingleCellSeparatedLNPOptions from_json(const Json& spec);
};

// One neuron of one session. Input (B, C, T_in, H, W) -> (B, T_in − T + 1, 1).
class SingleCellSeparatedLNP : public Readout {
 public:
  // `core_output_shape` (C, T, H, W) is used where options.in_shape is empty.
  SingleCellSeparatedLNP(const SingleCellSeparatedLNPOptions& options, const std::vector<int64_t>& core_output_shape);

  // Crops the patch (when the kernel is smaller than the frame), renormalises
  // the kernels when normalize_weights (in place, as openretina), filters.
  at::Tensor forward(const at::Tensor& x, const std::string& data_key = "") override;
  // smooth_weight_spat · spatial smoothness + smooth_weight_temp · temporal
  // smoothness + sparse_weight · (mean|space| + mean|time|).
  at::Tensor regularizer(const std::string& data_key = "") override;
  std::vector<std::string> sessions() const override { return {options_.session}; }
  int64_t n_neurons(const std::string& data_key = "") const override;

  // openretina's crop_input: the kernel-sized patch around rf_location.
  at::Tensor crop_input(const at::Tensor& x) const;
  // Each kernel divided by its Frobenius norm.
  void normalize_kernels();
  const SingleCellSeparatedLNPOptions& options() const { return options_; }

  torch::nn::Conv3d space_conv{nullptr};  // (rank, C, 1, h, w)
  torch::nn::Conv3d time_conv{nullptr};   // (1, rank, T, 1, 1)
  SmoothnessRegularizer _smooth_reg_fn_spat{nullptr};
  SmoothnessRegularizer _smooth_reg_fn_temp{nullptr};
  ParametrizedSoftplus parametrized_softplus{nullptr};  // registered as "nonlinearity" when used

 private:
  void check_data_key(const std::string& data_key) const;

  SingleCellSeparatedLNPOptions options_;
  std::array<int64_t, 2> location_{0, 0};
  bool crop_ = false;
};

}  // namespace fovea::nn
