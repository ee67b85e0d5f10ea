#pragma once
// Cores of the V1 models (minimodel's model_builder.Core and the tutorial's
// one-layer model). Parameter names follow minimodel:
//   core.features.layer0.{conv,norm}
//   core.features.layer{i>=1}.ds_conv.{in_depth_conv,spatial_conv,out_depth_conv}, .norm
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/any.h>
#include <torch/nn/modules/conv.h>

#include <array>

#include "fovea/nn/model.h"

namespace fovea::nn {

// Options of minimodel's build_model that shape the core.
struct MinimodelCoreOptions {
  int64_t in_channels = 1;
  int64_t n_layers = 2;
  int64_t n_conv = 16;         // channels of layer0
  int64_t n_conv_mid = 320;    // channels of the separable layers
  std::vector<int64_t> kernel_size = {25, 9};  // layers beyond get 5
  std::string activation = "elu";  // elu, relu, none
  bool pool = true;            // 2x2 pooling after layer0 (stride 2 conv if false)
  bool avgpool = false;        // average instead of max pooling
  bool depth_separable = true;
  bool use_bn = true;
  bool out_1x1 = true;         // false for minimodels ("lessconv"): no out_depth_conv
  double bn_momentum = 0.9;    // PyTorch semantics: new batch weighs 0.9

  static MinimodelCoreOptions from_json(const Json& spec);
  Json to_json() const;
};

// What training keeps of a frozen first conv's output (minimodels), per
// image, when layer0 is conv -> BN -> a non-decreasing activation -> 2x2 max
// pooling. BN is an affine map a·x + b per channel, so the pooled activation
// is act(a·max + b) over each 2x2 window where a >= 0 and act(a·min + b)
// where a < 0; BN's batch statistics come from per-channel sums over the full
// map. Half the memory of the outputs, and layer0's per-batch work at a
// quarter of the resolution.
struct PooledFirstConv {
  at::Tensor max, min;     // (N, C, H/2, W/2): maxima and minima of the 2x2 windows
  at::Tensor sum, sum_sq;  // (N, C) float64: Σx and Σx² over the whole H x W map
  int64_t count = 0;       // H·W

  // From the first conv's outputs (N, C, H, W).
  static PooledFirstConv from_conv_output(const at::Tensor& conv_output);
  // The rows of these images (a batch).
  PooledFirstConv select(const at::Tensor& rows) const;
  // The images of `parts` (of one map size), one part after another.
  static PooledFirstConv cat(const std::vector<PooledFirstConv>& parts);
};

// One layer of the core: conv (or depthwise-separable conv) -> BN -> activation [-> pool].
class MinimodelLayerImpl : public torch::nn::Module {
 public:
  MinimodelLayerImpl(const MinimodelCoreOptions& options, int64_t index);
  at::Tensor forward(at::Tensor x);
  // The layer after its (standard) convolution: BN -> activation [-> pool].
  at::Tensor forward_after_conv(at::Tensor conv_output);
  // Whether forward_from_pooled() computes this layer (see PooledFirstConv).
  bool starts_from_pooled() const;
  // forward_after_conv() of the conv outputs that `pooled` summarises,
  // running statistics of BN included.
  at::Tensor forward_from_pooled(const PooledFirstConv& pooled);
  // The modules, for analyses and figures. Undefined when absent.
  torch::nn::Conv2d conv{nullptr};            // layer0 or non-separable layers
  torch::nn::Conv2d in_depth_conv{nullptr};   // separable layers: 1x1 in -> S
  torch::nn::Conv2d spatial_conv{nullptr};    // separable layers: depthwise k x k
  torch::nn::Conv2d out_depth_conv{nullptr};  // separable layers: 1x1 S -> S (full models)
  torch::nn::BatchNorm2d norm{nullptr};

 private:
  std::string activation_;
  bool pool_ = false, avgpool_ = false;
};
TORCH_MODULE(MinimodelLayer);

class MinimodelCore : public Core {
 public:
  explicit MinimodelCore(const MinimodelCoreOptions& options);
  at::Tensor forward(const at::Tensor& input) override;
  std::vector<int64_t> output_shape(const std::vector<int64_t>& input_shape) override;
  // The (channels, height, width) layer i's conv answers for an h×w map, before any pooling.
  std::array<int64_t, 3> conv_output_shape(int64_t i, int64_t h, int64_t w) const;
  const MinimodelCoreOptions& options() const { return options_; }
  MinimodelLayer layer(int64_t i) const { return layers_.at(i); }
  int64_t n_layers() const { return static_cast<int64_t>(layers_.size()); }
  // Output of the first `n` layers (n = n_layers(): the core's output).
  at::Tensor forward_layers(const at::Tensor& input, int64_t n);
  int64_t inner_layer_count() const override { return n_layers(); }
  int64_t inner_layer_channels(int64_t index) const override {
    return index == 0 ? options_.n_conv : options_.n_conv_mid;
  }
  at::Tensor forward_inner_layers(const at::Tensor& input, const std::string&, int64_t n) override {
    return forward_layers(input, n);
  }
  // The core's output from a summary of layer0's convolution output (when
  // layer0->starts_from_pooled()). A frozen layer0 conv gives the same output
  // every epoch, so training computes it once per image and starts here.
  at::Tensor forward_from_pooled_first_conv(const PooledFirstConv& pooled);

 private:
  MinimodelCoreOptions options_;
  std::vector<MinimodelLayer> layers_;
};

// The tutorial's one-layer model core: Conv2d(in -> channels, k, pad k/2, bias) -> ELU.
class SingleConvCore : public Core {
 public:
  SingleConvCore(int64_t in_channels, int64_t channels, int64_t kernel_size);
  at::Tensor forward(const at::Tensor& input) override;
  std::vector<int64_t> output_shape(const std::vector<int64_t>& input_shape) override;
  torch::nn::Conv2d conv{nullptr};
};

// Block-averaging of pixels (b x b), the input stage of the tutorial's ridge
// regression; no parameters. factor 1 passes images through.
class BlockAverageCore : public Core {
 public:
  explicit BlockAverageCore(int64_t factor);
  at::Tensor forward(const at::Tensor& input) override;
  std::vector<int64_t> output_shape(const std::vector<int64_t>& input_shape) override;
  int64_t factor() const { return factor_; }

 private:
  int64_t factor_;
};

}  // namespace fovea::nn
