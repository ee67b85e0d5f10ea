#pragma once
// The core of the Höfling et al. 2024 ensemble (openretina/legacy/models.py,
// the nnfabrik-era `SFB3d_core_SxF3d_readout`): openretina's
// ParametricFactorizedBatchConv3dCore. Per layer
//   conv (STSeparableBatchConv3d, no bias) -> BatchNorm3d (not affine) -> Bias3DLayer -> ELU
// with one learned log speed per session (`data_key`) that stretches the
// temporal kernels of every layer. The same Parameter is stored under three
// names, as in the reference state dict:
//   core.log_speed_<session>
//   core.features.layer{i}.conv.log_speed_<session>   (every layer)
// plus the regulariser filters the files carry:
//   core._input_weights_regularizer_spatial.laplace.filter   (1, 1, 3, 3)
//   core._input_weights_regularizer_temporal.laplace.filter  (1, 1, 3)
// Without a session (data_key "") the layers use their _log_speed_default (0).
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>

#include <map>
#include <string>
#include <vector>

#include "fovea/nn/model.h"
#include "fovea/nn/retina_layers.h"
#include "fovea/nn/st_separable_conv.h"

namespace fovea::nn {

// The constructor arguments of SFB3d_core_SxF3d_readout that shape the core,
// with the reference's names and defaults.
struct ParametricFactorizedCoreOptions {
  int64_t input_channels = 2;
  std::vector<int64_t> hidden_channels{8};        // one per layer
  std::vector<int64_t> temporal_kernel_size{21};  // one per layer
  std::vector<int64_t> spatial_kernel_size{11};   // one per layer
  int64_t layers = 1;
  bool input_padding = false;  // layer 0: 0, or "same" in space
  bool hidden_padding = true;  // layers >= 1: (0, k/2, k/2), or 0
  bool core_bias = false;      // the Bias3DLayer after the batch norm
  bool batch_norm = true;
  bool batch_norm_scale = false;  // BatchNorm3d affine = core_bias && batch_norm_scale
  double momentum = 0.1;
  bool final_nonlinearity = true;
  std::string nonlinearity = "ELU";
  std::string conv_type = "custom_separable";
  int64_t stack = -1;  // -1: the last layer's output (the only value supported)
  std::vector<std::string> sessions;  // data keys, one log speed each
  double gamma_input = 0.1, gamma_temporal = 0.1, gamma_in_sparse = 0.0, gamma_hidden = 0.0;

  static ParametricFactorizedCoreOptions from_json(const Json& spec);
  Json to_json() const;
};

// One layer: features.layer{i}.{conv,norm,bias,nonlin}.
class ParametricFactorizedLayerImpl : public torch::nn::Module {
 public:
  ParametricFactorizedLayerImpl(const ParametricFactorizedCoreOptions& options, int64_t index);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& log_speed);

  STSeparableBatchConv3d conv{nullptr};
  torch::nn::BatchNorm3d norm{nullptr};  // null without batch_norm
  Bias3DLayer bias{nullptr};             // null without core_bias
  bool elu = true;
};
TORCH_MODULE(ParametricFactorizedLayer);

class ParametricFactorizedBatchConv3dCore : public Core {
 public:
  explicit ParametricFactorizedBatchConv3dCore(ParametricFactorizedCoreOptions options);

  // With the default log speed (stretch 1), as the reference with data_key None.
  at::Tensor forward(const at::Tensor& input) override { return forward_session(input, ""); }
  // With the session's log speed; "" uses the default. An unknown session is a fovea::Error.
  at::Tensor forward_session(const at::Tensor& input, const std::string& data_key) override;
  // The output of layers 0..n-1 (n = n_layers() gives the core's output).
  at::Tensor forward_layers(const at::Tensor& input, const std::string& data_key, int64_t n);
  int64_t inner_layer_count() const override { return n_layers(); }
  int64_t inner_layer_channels(int64_t index) const override { return options_.hidden_channels.at(index); }
  at::Tensor forward_inner_layers(const at::Tensor& input, const std::string& data_key, int64_t n) override {
    return forward_layers(input, data_key, n);
  }

  int64_t n_layers() const { return static_cast<int64_t>(layers_.size()); }
  STSeparableBatchConv3d conv(int64_t i) const { return layers_.at(i)->conv; }
  // The log speed of a session ("" -> undefined: the layers' default).
  at::Tensor log_speed(const std::string& data_key) const;
  const ParametricFactorizedCoreOptions& options() const { return options_; }

  torch::nn::Sequential features{nullptr};

 private:
  ParametricFactorizedCoreOptions options_;
  std::vector<ParametricFactorizedLayer> layers_;
  std::map<std::string, at::Tensor> log_speeds_;
};

// Registers the core type "parametric_factorized_batch_conv3d" (spec: the
// options above) and the readout type "spatial_x_feature_3d" (openretina's
// SpatialXFeature3dReadout: the Gaussian mask readout with `scale` in place
// of `scale_param`). Called through register_builtin_modules().
void register_legacy_modules();

}  // namespace fovea::nn
