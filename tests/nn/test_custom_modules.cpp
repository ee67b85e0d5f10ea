// The custom-model listing of openretina's documentation in C++: a core and a
// readout written by the user register by type name and compose with the
// built-in ones; the composed model trains, saves and loads like any other.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "fovea/nn/model_file.h"
#include "fovea/nn/registry.h"
#include "test_util.h"

namespace {

using fovea::nn::Json;

// The listing's MyCustomCore: two 3-D convolutions (5, 3, 3) with "same" padding and ReLU.
class MyCustomCore : public fovea::nn::Core {
 public:
  MyCustomCore(int64_t input_channels, int64_t hidden_channels)
      : conv1(register_module("conv1", torch::nn::Conv3d(torch::nn::Conv3dOptions(input_channels, hidden_channels, {5, 3, 3})
                                                             .padding({2, 1, 1})))),
        conv2(register_module("conv2", torch::nn::Conv3d(torch::nn::Conv3dOptions(hidden_channels, hidden_channels, {5, 3, 3})
                                                             .padding({2, 1, 1})))) {}
  at::Tensor forward(const at::Tensor& x) override { return torch::relu(conv2(torch::relu(conv1(x)))); }
  torch::nn::Conv3d conv1, conv2;
};

// The listing's MyCustomReadout: a linear map of each frame's flattened features.
class MyCustomReadout : public fovea::nn::Readout {
 public:
  MyCustomReadout(const std::vector<int64_t>& in_shape, int64_t num_neurons)
      : num_neurons_(num_neurons),
        linear(register_module("linear", torch::nn::Linear(in_shape[0] * in_shape[2] * in_shape[3], num_neurons))) {}
  at::Tensor forward(const at::Tensor& x, const std::string&) override {
    const int64_t b = x.size(0), t = x.size(2);
    at::Tensor frames = x.permute({0, 2, 1, 3, 4}).reshape({b * t, -1});
    return linear(frames).reshape({b, t, num_neurons_});
  }
  int64_t n_neurons(const std::string&) const override { return num_neurons_; }

 private:
  int64_t num_neurons_;

 public:
  torch::nn::Linear linear;
};

const fovea::nn::CoreRegistration kCore("my_custom_core", [](const Json& spec, const std::vector<int64_t>& input_shape) {
  return std::make_shared<MyCustomCore>(input_shape.at(0), spec.value("hidden_channels", 32));
});
const fovea::nn::ReadoutRegistration kReadout("my_custom_readout", [](const Json& spec, const std::vector<int64_t>& s) {
  return std::make_shared<MyCustomReadout>(s, spec.value("num_neurons", 150));
});

}  // namespace

TEST(CustomModules, CustomCoreWithTheBuiltInGaussianMaskReadout) {
  Json spec = {{"core", {{"type", "my_custom_core"}, {"hidden_channels", 8}}},
               {"readout", {{"type", "gaussian_mask"}, {"n_neurons_dict", {{"session_1", 6}}}, {"scale", true}}},
               {"input_shape", {2, 20, 16, 18}}};
  auto model = fovea::nn::build_model(spec);
  EXPECT_EQ(model->stimulus_shape(30, 2), (std::vector<int64_t>{2, 2, 30, 16, 18}));
  at::Tensor x = torch::randn(model->stimulus_shape(30, 2));
  at::Tensor y = model->forward(x, "session_1");
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{2, 30, 6})) << "'same' padding keeps every frame";
  y.sum().backward();
  for (const auto& p : model->named_parameters())
    if (p.value().requires_grad()) EXPECT_TRUE(p.value().grad().defined()) << p.key();
  // Saved and loaded through the registry: the same outputs.
  fovea::test::TempDir dir;
  model->eval();
  fovea::nn::save_model(dir.file("m.safetensors"), *model);
  auto loaded = fovea::nn::load_model(dir.file("m.safetensors"));
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::allclose(loaded->forward(x, "session_1"), model->forward(x, "session_1")));
}

TEST(CustomModules, BuiltInRetinaCoreWithACustomReadout) {
  Json spec = {{"core",
                {{"type", "simple_core_wrapper"},
                 {"channels", {2, 4}},
                 {"temporal_kernel_sizes", {5}},
                 {"spatial_kernel_sizes", {3}},
                 {"cut_first_n_frames", 0}}},
               {"readout", {{"type", "my_custom_readout"}, {"num_neurons", 150}}},
               {"input_shape", {2, 20, 16, 18}}};
  auto model = fovea::nn::build_model(spec);
  at::Tensor y = model->forward(torch::randn({1, 2, 20, 16, 18}));
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{1, 16, 150}));  // a valid temporal kernel of 5 frames
  // The custom readout's weights are named under the model's "readout".
  bool found = false;
  for (const auto& p : model->named_parameters()) found = found || p.key() == "readout.linear.weight";
  EXPECT_TRUE(found);
}
