// The retina models are causal: output frame j sees input frames up to j + lag
// (lag = input frames − output frames), so changing input frame t must leave
// every output frame j < t − lag unchanged — openretina's is_model_causal check.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "fovea/nn/model.h"

namespace {

std::shared_ptr<fovea::nn::Model> default_retina_model(const nlohmann::json& hidden_padding) {
  nlohmann::json spec = {
      {"family", "retina"},
      {"core",
       {{"type", "simple_core_wrapper"},
        {"channels", {2, 8, 8}},
        {"temporal_kernel_sizes", {21, 11}},
        {"spatial_kernel_sizes", {11, 5}},
        {"input_padding", 0},
        {"hidden_padding", hidden_padding},
        {"gamma_temporal", 40.0},
        {"cut_first_n_frames", 0}}},
      {"readout",
       {{"type", "gaussian_mask"},
        {"n_neurons_dict", {{"s1", 5}, {"s2", 3}}},
        {"scale", true},
        {"gaussian_mean_scale", 6.0},
        {"gaussian_var_scale", 4.0},
        {"positive", true}}},
      {"input_shape", {2, 60, 18, 16}}};
  auto model = fovea::nn::build_model(spec);
  // Random weights everywhere, so that every input frame in the receptive field matters.
  torch::NoGradGuard no_grad;
  for (auto& p : model->parameters()) p.normal_(0.0, 0.3);
  model->eval();
  return model;
}

}  // namespace

TEST(RetinaCausality, ChangingFrameTLeavesEarlierOutputsUnchanged) {
  torch::manual_seed(3);
  for (const auto& padding : {nlohmann::json::array({0, 2, 2}), nlohmann::json(0)}) {
    auto model = default_retina_model(padding);
    torch::NoGradGuard no_grad;
    // openretina's check: 40 frames at 1, then frames at 2.
    const int64_t T = 80, t = 40;
    at::Tensor x = torch::ones({1, 2, T, 18, 16});
    at::Tensor y = x.clone();
    y.narrow(2, t, T - t).fill_(2.0);
    const at::Tensor out_x = model->forward(x, "s1"), out_y = model->forward(y, "s1");
    const int64_t lag = T - out_x.size(1);
    EXPECT_EQ(lag, 30) << "the default architecture's temporal kernels 21 + 11 give a lag of 30";
    // Unchanged before t − lag, changed from there on.
    EXPECT_TRUE(torch::equal(out_x.narrow(1, 0, t - lag), out_y.narrow(1, 0, t - lag))) << padding.dump();
    EXPECT_GT((out_x.narrow(1, t - lag, 1) - out_y.narrow(1, t - lag, 1)).abs().max().item<double>(), 1e-6)
        << padding.dump();
  }
}

TEST(RetinaCausality, SingleFramePerturbationOnlyReachesLaterOutputs) {
  torch::manual_seed(4);
  auto model = default_retina_model(nlohmann::json::array({0, 2, 2}));
  torch::NoGradGuard no_grad;
  at::Tensor x = torch::randn({2, 2, 70, 18, 16});
  const at::Tensor base = model->forward(x, "");
  const int64_t lag = 70 - base.size(1);
  for (int64_t t : {30, 45, 69}) {
    at::Tensor y = x.clone();
    y.select(2, t).add_(torch::randn({2, 2, 18, 16}));
    const at::Tensor out = model->forward(y, "");
    const int64_t unchanged = t - lag;  // output frames 0 .. t − lag − 1 only see frames < t
    if (unchanged > 0) EXPECT_TRUE(torch::equal(base.narrow(1, 0, unchanged), out.narrow(1, 0, unchanged))) << t;
    EXPECT_FALSE(torch::equal(base.narrow(1, unchanged, 1), out.narrow(1, unchanged, 1))) << t;
  }
}
