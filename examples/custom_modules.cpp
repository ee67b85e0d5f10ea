// The user-defined core and readout of openretina's "Creating Custom Models"
// listing, registered by type name. This file is compiled two ways:
//  - into the `custom_model` program (custom_model.cpp), which builds models
//    from them in C++;
//  - as the plugin libcustom_modules.so (a MODULE library, see
//    examples/CMakeLists.txt), so that the `fovea` command reads model files
//    that use them: `fovea --plugin build/examples/libcustom_modules.so info custom.safetensors`.
// As a plugin it links LibTorch but not fovea: register_core, the Core and
// Readout base classes etc. resolve against the `fovea` executable when it
// loads the plugin (include/fovea/nn/plugins.h).
#include <torch/torch.h>

#include "fovea/nn/registry.h"

namespace {

using fovea::nn::Json;

// Two 3-D convolutions (5, 3, 3) with "same" padding and ReLU, as MyCustomCore.
class MyCustomCore : public fovea::nn::Core {
 public:
  MyCustomCore(int64_t input_channels, int64_t hidden_channels)
      : conv1(register_module("conv1", torch::nn::Conv3d(torch::nn::Conv3dOptions(input_channels, hidden_channels,
                                                                                  {5, 3, 3})
                                                             .padding({2, 1, 1})))),
        conv2(register_module("conv2", torch::nn::Conv3d(torch::nn::Conv3dOptions(hidden_channels, hidden_channels,
                                                                                  {5, 3, 3})
                                                             .padding({2, 1, 1})))) {}
  at::Tensor forward(const at::Tensor& x) override { return torch::relu(conv2(torch::relu(conv1(x)))); }
  torch::nn::Conv3d conv1, conv2;
};

// A linear map of each frame's flattened features to the neurons, as MyCustomReadout.
class MyCustomReadout : public fovea::nn::Readout {
 public:
  MyCustomReadout(const std::vector<int64_t>& in_shape, int64_t num_neurons)
      : linear(register_module("linear", torch::nn::Linear(in_shape[0] * in_shape[2] * in_shape[3], num_neurons))),
        num_neurons_(num_neurons) {}
  at::Tensor forward(const at::Tensor& x, const std::string& /*data_key*/) override {
    const int64_t batch = x.size(0), time = x.size(2);
    at::Tensor frames = x.permute({0, 2, 1, 3, 4}).reshape({batch * time, -1});
    return linear(frames).reshape({batch, time, num_neurons_});
  }
  int64_t n_neurons(const std::string&) const override { return num_neurons_; }
  torch::nn::Linear linear;

 private:
  int64_t num_neurons_;
};

// Registered by type name, so specs (and saved model files) can name them.
const fovea::nn::CoreRegistration kCore("my_custom_core", [](const Json& spec, const std::vector<int64_t>& in) {
  return std::make_shared<MyCustomCore>(in.at(0), spec.value("hidden_channels", 32));
});
const fovea::nn::ReadoutRegistration kReadout("my_custom_readout", [](const Json& spec, const std::vector<int64_t>& s) {
  return std::make_shared<MyCustomReadout>(s, spec.value("num_neurons", 150));
});

}  // namespace
