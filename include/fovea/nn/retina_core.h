#pragma once
// openretina's SimpleCoreWrapper (modules/core/base_core.py), the retina core.
// Each layer: conv (no bias) -> BatchNorm3d -> Bias3DLayer -> ELU
// [-> Dropout3d] [-> MaxPool3d(1, 2, 2)]; then the first frames are cut.
// Parameter names follow openretina:
//   core.features.layer{i}.conv.{sin_weights,cos_weights,weight_spatial,_log_speed_default}
//   core.features.layer{i}.norm.{weight,bias,running_mean,running_var,num_batches_tracked}
//   core.features.layer{i}.bias.bias
//   core._input_weights_regularizer_spatial.laplace.filter
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/any.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/pooling.h>

#include <map>
#include <optional>

#include "fovea/nn/model.h"
#include "fovea/nn/retina_layers.h"
#include "fovea/nn/st_separable_conv.h"

namespace fovea::nn {

// The constructor arguments of SimpleCoreWrapper, with openretina's names.
struct SimpleCoreWrapperOptions {
  std::vector<int64_t> channels;               // (in, hidden_1, ..., hidden_n)
  std::vector<int64_t> temporal_kernel_sizes;  // one per layer
  std::vector<int64_t> spatial_kernel_sizes;   // one per layer
  double gamma_input = 0.0;      // spatial Laplace on layer 0
  double gamma_temporal = 0.0;   // temporal smoothness (all layers)
  double gamma_in_sparse = 0.0;  // group sparsity, all layers (openretina's group_sparsity_0)
  double gamma_hidden = 0.0;     // group sparsity, layers >= 1
  double dropout_rate = 0.0;
  int64_t cut_first_n_frames = 30;
  std::optional<int64_t> maxpool_every_n_layers;  // pool after layer i when i % n == 0
  std::optional<std::array<int64_t, 3>> downsample_input_kernel_size;  // avg_pool3d before the layers
  Padding3d input_padding;                          // default False -> 0
  Padding3d hidden_padding{true, {0, 0, 0}};        // default True -> "same"
  std::string convolution_type = "custom_separable";  // custom_separable, separable, full, time_independent
  // Colour to grey before the layers (openretina's WeightedChannelSumLayer):
  // x' = Σ_c w_c x_c; channels[0] must then be 1. Empty: no squashing.
  std::vector<double> color_squashing_weights;

  // Reads openretina's argument names. "maxpool" is accepted for
  // maxpool_every_n_layers (an int n, true = 1, false/null = none).
  static SimpleCoreWrapperOptions from_json(const Json& spec);
  Json to_json() const;
  int64_t n_layers() const { return static_cast<int64_t>(channels.size()) - 1; }
};

// One layer of the core. The conv is one of four types; `conv_module` holds it
// for the forward pass, and the typed handle of its type is set.
class SimpleCoreLayerImpl : public torch::nn::Module {
 public:
  SimpleCoreLayerImpl(const SimpleCoreWrapperOptions& options, int64_t index);
  at::Tensor forward(const at::Tensor& x);

  STSeparableBatchConv3d st_conv{nullptr};           // custom_separable
  TorchSTSeparableConv3D separable_conv{nullptr};    // separable
  TorchFullConv3D full_conv{nullptr};                // full
  TimeIndependentConv3D time_independent_conv{nullptr};  // time_independent
  torch::nn::BatchNorm3d norm{nullptr};
  Bias3DLayer bias{nullptr};
  torch::nn::Dropout3d dropout{nullptr};
  torch::nn::MaxPool3d pool{nullptr};

  // The (O, I, 1, kh, kw) spatial weight the regularisers act on; undefined
  // for conv types without one (full).
  at::Tensor weight_spatial() const;

 private:
  torch::nn::AnyModule conv_module_;
};
TORCH_MODULE(SimpleCoreLayer);

class SimpleCoreWrapper : public Core {
 public:
  explicit SimpleCoreWrapper(SimpleCoreWrapperOptions options);

  // (B, C, T, H, W) -> (B, hidden_n, T', H', W'), without the first cut_first_n_frames frames.
  at::Tensor forward(const at::Tensor& input) override;
  // Weighted sum of the terms whose gamma is not 0 (the others are not computed, as in openretina).
  at::Tensor regularizer() override;
  // The unweighted terms whose gamma is not 0 ("spatial_laplace", "temporal_smoothness",
  // "group_sparsity_0", "group_sparsity") and their weighted sum ("total").
  std::map<std::string, at::Tensor> regularizer_terms();
  std::vector<int64_t> output_shape(const std::vector<int64_t>& input_shape) override;

  // The terms, each unweighted. They need the layers' spatial or sin/cos
  // weights; a conv type without them raises fovea::Error (openretina fails too).
  at::Tensor spatial_laplace();      // FlatLaplaceL23dnorm of layer 0's spatial weight
  at::Tensor temporal_smoothness();  // sum over layers of temporal_smoothing; "separable": TimeLaplaceL23dnorm of layer 0
  at::Tensor group_sparsity_0();     // group sparsity of every layer
  at::Tensor group_sparsity();       // group sparsity of layers >= 1 (0 for a one-layer core)

  const SimpleCoreWrapperOptions& options() const { return options_; }
  int64_t n_layers() const { return static_cast<int64_t>(layers_.size()); }
  int64_t inner_layer_count() const override { return n_layers(); }
  int64_t inner_layer_channels(int64_t index) const override { return options_.channels.at(index + 1); }
  // Layers 0..n-1 without the final frame cut (that happens after all
  // layers, outside features.layer<i>).
  at::Tensor forward_inner_layers(const at::Tensor& input, const std::string& data_key, int64_t n) override;
  SimpleCoreLayer layer(int64_t i) const { return layers_.at(i); }

  torch::nn::Sequential features{nullptr};
  // Present when options().color_squashing_weights is set: the module
  // "color_squashing_layer" with the frozen parameter "channel_weights".
  std::shared_ptr<torch::nn::Module> color_squashing_layer;
  FlatLaplaceL23dnorm _input_weights_regularizer_spatial{nullptr};

 private:
  SimpleCoreWrapperOptions options_;
  std::vector<SimpleCoreLayer> layers_;
};

}  // namespace fovea::nn
