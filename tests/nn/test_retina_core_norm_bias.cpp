// The retina core layer folds its Bias3DLayer's bias into the batch norm's
// bias (src/nn/retina_core.cpp). Checked here against the reference's op
// sequence built from LibTorch's own modules: BatchNorm3d's forward, then
// `+ bias`, then ELU; outputs, every gradient and the running statistics.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "fovea/nn/retina_core.h"

namespace {

using fovea::nn::Json;
using fovea::nn::SimpleCoreWrapper;
using fovea::nn::SimpleCoreWrapperOptions;

Json spec() {
  return Json{{"channels", {3, 5}},   {"temporal_kernel_sizes", {5}}, {"spatial_kernel_sizes", {3}},
              {"gamma_input", 0.3},   {"gamma_temporal", 40.0},      {"input_padding", 0},
              {"hidden_padding", 0},  {"convolution_type", "custom_separable"}};
}

// LibTorch's BatchNorm3d with the layer's parameters and running statistics.
torch::nn::BatchNorm3d reference_norm(const torch::nn::BatchNorm3d& norm) {
  torch::nn::BatchNorm3d ref(torch::nn::BatchNormOptions(norm->options.num_features()).momentum(0.1).eps(1e-5));
  torch::NoGradGuard no_grad;
  ref->weight.copy_(norm->weight);
  ref->bias.copy_(norm->bias);
  ref->running_mean.copy_(norm->running_mean);
  ref->running_var.copy_(norm->running_var);
  ref->num_batches_tracked.copy_(norm->num_batches_tracked);
  return ref;
}

void expect_close(const at::Tensor& a, const at::Tensor& b, const char* what) {
  ASSERT_EQ(a.sizes(), b.sizes()) << what;
  EXPECT_TRUE(torch::allclose(a, b, 1e-4, 1e-5)) << what << ": max difference " << (a - b).abs().max().item<double>();
}

void check_layer(bool training) {
  torch::manual_seed(5);
  SimpleCoreWrapper core(SimpleCoreWrapperOptions::from_json(spec()));
  auto layer = core.layer(0);
  {
    // Parameters away from their initial 1 / 0 so a dropped or doubled term shows.
    torch::NoGradGuard no_grad;
    layer->norm->weight.uniform_(0.5, 1.5);
    layer->norm->bias.uniform_(-1, 1);
    layer->bias->bias.uniform_(-1, 1);
    layer->norm->running_mean.uniform_(-0.5, 0.5);
    layer->norm->running_var.uniform_(0.5, 2);
  }
  training ? core.train() : core.eval();
  auto ref = reference_norm(layer->norm);
  training ? ref->train() : ref->eval();
  at::Tensor ref_extra = layer->bias->bias.detach().clone().requires_grad_(true);

  at::Tensor x = (torch::randn({3, 3, 12, 9, 8}) * 2 + 0.5).requires_grad_(true);
  at::Tensor g = torch::randn({3, 5, 8, 7, 6});

  at::Tensor y = layer->forward(x);
  auto grads = torch::autograd::grad({y}, {x, layer->norm->weight, layer->norm->bias, layer->bias->bias}, {g});

  // The reference: the same convolution (its graph separate), then the three modules.
  at::Tensor xr = x.detach().clone().requires_grad_(true);
  at::Tensor yr = torch::elu(ref->forward(layer->st_conv->forward(xr)) + ref_extra);
  auto ref_grads = torch::autograd::grad({yr}, {xr, ref->weight, ref->bias, ref_extra}, {g});

  expect_close(y, yr, "output");
  const char* names[] = {"input gradient", "norm.weight gradient", "norm.bias gradient", "bias.bias gradient"};
  for (int i = 0; i < 4; ++i) expect_close(grads[i], ref_grads[i], names[i]);
  expect_close(layer->norm->running_mean, ref->running_mean, "running_mean");
  expect_close(layer->norm->running_var, ref->running_var, "running_var");
  EXPECT_EQ(layer->norm->num_batches_tracked.item<int64_t>(), ref->num_batches_tracked.item<int64_t>());
  EXPECT_EQ(layer->norm->num_batches_tracked.item<int64_t>(), training ? 1 : 0);
}

TEST(RetinaCoreNormBias, TrainingMatchesBatchNormThenBiasThenElu) { check_layer(true); }

TEST(RetinaCoreNormBias, EvalMatchesBatchNormThenBiasThenElu) { check_layer(false); }

}  // namespace
