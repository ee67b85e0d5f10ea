// Minimodels start from the full model's first layer: copied, resized with
// bilinear interpolation when the kernel size differs, and frozen.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "fovea/nn/model.h"
#include "fovea/nn/v1_cores.h"
#include "fovea/train/v1_experiment.h"

namespace {

nlohmann::json spec(int64_t k0, int64_t mid, bool minimodel) {
  return {{"core", {{"type", "minimodel_core"}, {"n_conv", 4}, {"n_conv_mid", mid}, {"kernel_size", {k0, 3}},
                    {"activation", minimodel ? "relu" : "elu"}, {"out_1x1", !minimodel}}},
          {"readout", {{"type", "rank1"}, {"n_neurons", minimodel ? 1 : 5}}},
          {"input_shape", {1, 20, 24}}};
}

at::Tensor first_conv(const fovea::nn::Model& m) {
  return std::dynamic_pointer_cast<fovea::nn::MinimodelCore>(m.core())->layer(0)->conv->weight;
}

TEST(MinimodelInit, SameKernelSizeIsCopiedExactlyAndFrozen) {
  auto full = fovea::nn::build_model(spec(7, 8, false));
  auto mini = fovea::nn::build_model(spec(7, 6, true));
  fovea::train::copy_first_layer(*full, *mini, true);
  EXPECT_TRUE(torch::equal(first_conv(*full), first_conv(*mini)));
  EXPECT_FALSE(first_conv(*mini).requires_grad());
  EXPECT_EQ(mini->n_parameters(true), mini->n_parameters() - 4 * 49);
}

TEST(MinimodelInit, DifferentKernelSizeIsResizedBilinearly) {
  auto full = fovea::nn::build_model(spec(9, 8, false));
  auto mini = fovea::nn::build_model(spec(5, 6, true));
  {
    torch::NoGradGuard g;
    // Filter 0: constant; filter 1: a horizontal ramp. Bilinear resizing keeps
    // a constant and maps a linear ramp to a linear ramp with the same ends'
    // mean (cv2.resize samples pixel centres).
    auto w = first_conv(*full);
    w.zero_();
    w[0].fill_(0.5);
    w[1][0] = torch::arange(9, torch::kFloat32).repeat({9, 1});
  }
  fovea::train::copy_first_layer(*full, *mini, true);
  auto w = first_conv(*mini);
  EXPECT_TRUE(torch::allclose(w[0], torch::full({1, 5, 5}, 0.5f)));
  auto ramp = w[1][0][2];  // one row
  for (int64_t x = 1; x < 5; ++x) EXPECT_NEAR(ramp[x].item<float>() - ramp[x - 1].item<float>(), 9.0 / 5.0, 1e-4);
  EXPECT_NEAR(ramp.mean().item<float>(), 4.0, 1e-4);
  EXPECT_TRUE(torch::allclose(w[2], torch::zeros({1, 5, 5})));
  EXPECT_FALSE(w.requires_grad());
}

}  // namespace
