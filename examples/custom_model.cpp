// openretina's "Creating Custom Models" listing in C++: a core and a readout
// written by the user, registered by type name, composed into a model from a
// spec, run, saved and loaded like the built-in ones.
//
// usage: custom_model [OUTPUT.safetensors]
#include <torch/torch.h>

#include <iostream>

#include "fovea/nn/model_file.h"
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

int main(int argc, char** argv) {
  // The custom core and readout together, then the custom core with fovea's
  // Gaussian mask readout (one readout per session).
  const Json custom = {{"core", {{"type", "my_custom_core"}, {"hidden_channels", 32}}},
                       {"readout", {{"type", "my_custom_readout"}, {"num_neurons", 150}}},
                       {"input_shape", {2, 50, 16, 18}}};
  const Json mixed = {{"core", {{"type", "my_custom_core"}, {"hidden_channels", 32}}},
                      {"readout", {{"type", "gaussian_mask"}, {"n_neurons_dict", {{"session_1", 150}}}}},
                      {"input_shape", {2, 50, 16, 18}}};
  torch::NoGradGuard no_grad;
  for (const auto& spec : {custom, mixed}) {
    auto model = fovea::nn::build_model(spec);
    model->eval();
    const at::Tensor responses = model->forward(torch::rand(model->stimulus_shape(50)));
    std::cout << spec["core"]["type"].get<std::string>() << " + " << spec["readout"]["type"].get<std::string>()
              << ": responses " << responses.sizes() << ", " << model->n_parameters() << " parameters\n";
    if (argc > 1 && spec == mixed) {
      fovea::nn::save_model(argv[1], *model);
      std::cout << "saved " << argv[1] << "\n";
    }
  }
  return 0;
}
