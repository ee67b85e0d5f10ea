// The range loss and the two postprocessors against hand computations.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "fovea/error.h"
#include "fovea/insilico/regularizers.h"

using namespace fovea::insilico;

TEST(RangeRegularizationLoss, SumsTheViolationsAndTheNormExcess) {
  // (1, 2, 2): channel 0 = [-2, 0.5], channel 1 = [3, 1].
  const at::Tensor x = torch::tensor({-2.0f, 0.5f, 3.0f, 1.0f}).view({1, 2, 2});
  // channel 0 in [-1, 1]: 1 below; channel 1 at most 2: 1 above. ‖x‖ = sqrt(4 + .25 + 9 + 1) = sqrt(14.25).
  const double norm_excess = std::sqrt(14.25) - 3.0;
  RangeRegularizationLoss loss({{-1.0, 1.0}, {std::nullopt, 2.0}}, 3.0, 0.5);
  EXPECT_NEAR(loss.forward(x).item<double>(), 0.5 * (1.0 + 1.0 + norm_excess), 1e-6);
  // No bound violated and the norm below max_norm: zero.
  RangeRegularizationLoss loose({{-5.0, 5.0}, {-5.0, 5.0}}, 10.0);
  EXPECT_EQ(loose.forward(x).item<double>(), 0.0);
  // No norm term.
  RangeRegularizationLoss no_norm({{0.0, std::nullopt}, {std::nullopt, std::nullopt}}, std::nullopt);
  EXPECT_NEAR(no_norm.forward(x).item<double>(), 2.0, 1e-6);
}

TEST(RangeRegularizationLoss, HasAGradientOnlyWhereViolated) {
  at::Tensor x = torch::tensor({-2.0f, 0.5f, 3.0f, 1.0f}).view({1, 2, 2}).requires_grad_(true);
  RangeRegularizationLoss({{-1.0, 1.0}, {std::nullopt, 2.0}}, std::nullopt).forward(x).backward();
  EXPECT_TRUE(torch::equal(x.grad(), torch::tensor({-1.0f, 0.0f, 1.0f, 0.0f}).view({1, 2, 2})));
}

TEST(ChangeNormJointlyClipRangeSeparately, RescalesEachSampleThenClampsEachChannel) {
  // Two samples, 2 channels of 2 values. Sample 0 norm 5 (3, 4 / 0, 0), sample 1 norm 2 (1, 1, 1, 1).
  const at::Tensor x = torch::tensor({3.0f, 4.0f, 0.0f, 0.0f, 1.0f, 1.0f, 1.0f, -1.0f}).view({2, 2, 2});
  ChangeNormJointlyClipRangeSeparately only_norm({{std::nullopt, std::nullopt}, {std::nullopt, std::nullopt}}, 10.0);
  const at::Tensor scaled = only_norm.process(x);
  const at::Tensor expected = torch::tensor({6.0f, 8.0f, 0.0f, 0.0f, 5.0f, 5.0f, 5.0f, -5.0f}).view({2, 2, 2});
  EXPECT_TRUE(torch::allclose(scaled, expected, 1e-6, 1e-6));
  // Then clamp channel 0 to [-1, 7] and channel 1 to [-2, 4].
  ChangeNormJointlyClipRangeSeparately both({{-1.0, 7.0}, {-2.0, 4.0}}, 10.0);
  const at::Tensor clipped = torch::tensor({6.0f, 7.0f, 0.0f, 0.0f, 5.0f, 5.0f, 4.0f, -2.0f}).view({2, 2, 2});
  EXPECT_TRUE(torch::allclose(both.process(x), clipped, 1e-6, 1e-6));
  // Without a norm only the clamp applies.
  ChangeNormJointlyClipRangeSeparately clamp_only({{0.0, 3.5}, {std::nullopt, 0.5}}, std::nullopt);
  const at::Tensor c = torch::tensor({3.0f, 3.5f, 0.0f, 0.0f, 1.0f, 1.0f, 0.5f, -1.0f}).view({2, 2, 2});
  EXPECT_TRUE(torch::equal(clamp_only.process(x), c));
}

TEST(ChangeNormJointlyClipRangeSeparately, NeedsOneRangePerChannel) {
  ChangeNormJointlyClipRangeSeparately post({{-1.0, 1.0}}, 1.0);
  try {
    post.process(torch::ones({1, 2, 3, 4, 4}));
    FAIL() << "expected fovea::Error";
  } catch (const fovea::Error& e) {
    EXPECT_NE(std::string(e.what()).find("expected 1 channels"), std::string::npos) << e.what();
  }
}

TEST(TemporalGaussianLowPass, KernelIsTheNormalisedGaussian) {
  TemporalGaussianLowPassFilterProcessor post(1.0, 5);
  const double e2 = std::exp(-2.0), e05 = std::exp(-0.5), sum = 1 + 2 * e05 + 2 * e2;
  const at::Tensor expected = torch::tensor({e2 / sum, e05 / sum, 1 / sum, e05 / sum, e2 / sum}, torch::kFloat32);
  EXPECT_TRUE(torch::allclose(post.kernel(), expected, 1e-6, 1e-7));
}

// out[b, c, t, y, x] = Σ_j k[j] · in[b, c, t + j − left, y, x], zero outside, left = (k − 1) / 2.
static at::Tensor direct_filter(const at::Tensor& in, const at::Tensor& kernel) {
  const int64_t k = kernel.size(0), left = (k - 1) / 2, T = in.size(2);
  at::Tensor out = torch::zeros_like(in);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t j = 0; j < k; ++j) {
      const int64_t s = t + j - left;
      if (s >= 0 && s < T) out.select(2, t) += kernel[j].item<double>() * in.select(2, s);
    }
  return out;
}

TEST(TemporalGaussianLowPass, FiltersEachChannelAlongTimeWithSamePadding) {
  torch::manual_seed(0);
  const at::Tensor x = torch::randn({2, 3, 9, 4, 5});
  for (int64_t k : {5, 4, 1}) {
    TemporalGaussianLowPassFilterProcessor post(1.5, k);
    const at::Tensor out = post.process(x);
    EXPECT_EQ(out.sizes(), x.sizes());
    EXPECT_TRUE(torch::allclose(out, direct_filter(x, post.kernel()), 1e-5, 1e-6)) << "kernel " << k;
  }
  // A constant movie stays constant away from the edges (the kernel sums to 1).
  const at::Tensor flat = TemporalGaussianLowPassFilterProcessor(1.0, 5).process(torch::full({1, 2, 9, 3, 3}, 2.0));
  EXPECT_TRUE(torch::allclose(flat.narrow(2, 2, 5), torch::full({1, 2, 5, 3, 3}, 2.0), 1e-5, 1e-6));
  EXPECT_THROW(TemporalGaussianLowPassFilterProcessor(1.0, 5).process(torch::ones({1, 2, 4, 4})), fovea::Error);
}
