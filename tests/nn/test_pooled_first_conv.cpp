// Starting layer0 from the pooled summary of its conv outputs
// (nn::PooledFirstConv) computes what conv -> BN -> activation -> max pool
// computes: outputs, BN's running statistics and the gradients of BN's
// weight and bias, in training and in evaluation, with scales of both signs.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "fovea/nn/gather_rows.h"
#include "fovea/nn/v1_cores.h"

namespace {

using fovea::nn::MinimodelCoreOptions;
using fovea::nn::MinimodelLayer;
using fovea::nn::PooledFirstConv;

MinimodelLayer layer0(const std::string& activation) {
  MinimodelCoreOptions o;
  o.n_conv = 5;
  o.kernel_size = {3, 3};
  o.activation = activation;
  MinimodelLayer layer(o, 0);
  torch::NoGradGuard no_grad;
  // Negative BN weights for two channels: there the window minima count.
  layer->norm->weight.copy_(torch::tensor({1.3f, -0.7f, 0.4f, -1.1f, 0.9f}));
  layer->norm->bias.copy_(torch::tensor({0.2f, -0.1f, 0.5f, 0.3f, -0.4f}));
  return layer;
}

void expect_close(const at::Tensor& a, const at::Tensor& b, const std::string& what) {
  ASSERT_EQ(a.sizes(), b.sizes()) << what;
  const double err = (a - b).abs().max().item<double>() / std::max(1e-12, b.abs().max().item<double>());
  EXPECT_LT(err, 1e-5) << what;
}

class PooledFirstConvTest : public ::testing::TestWithParam<std::string> {};

TEST_P(PooledFirstConvTest, MatchesBatchNormActivationAndMaxPool) {
  torch::manual_seed(3);
  // An odd map (11 x 13): pooling drops the last row and column, BN's
  // statistics include them.
  at::Tensor conv_out = torch::randn({6, 5, 11, 13}) * 2 + 0.5;
  auto reference = layer0(GetParam());
  auto pooled_path = layer0(GetParam());
  const auto summary = PooledFirstConv::from_conv_output(conv_out);
  EXPECT_EQ(summary.max.sizes(), (std::vector<int64_t>{6, 5, 5, 6}));

  for (int step = 0; step < 2; ++step) {  // two batches: the running statistics move twice
    at::Tensor rows = step == 0 ? torch::tensor({0, 2, 3, 5}) : torch::tensor({1, 4, 0});
    reference->train();
    pooled_path->train();
    at::Tensor expected = reference->forward_after_conv(conv_out.index_select(0, rows));
    at::Tensor actual = pooled_path->forward_from_pooled(summary.select(rows));
    expect_close(actual, expected, "training output");
    at::Tensor weights = torch::randn(expected.sizes());
    (expected * weights).sum().backward();
    (actual * weights).sum().backward();
    expect_close(pooled_path->norm->weight.grad(), reference->norm->weight.grad(), "BN weight gradient");
    expect_close(pooled_path->norm->bias.grad(), reference->norm->bias.grad(), "BN bias gradient");
    expect_close(pooled_path->norm->running_mean, reference->norm->running_mean, "running mean");
    expect_close(pooled_path->norm->running_var, reference->norm->running_var, "running variance");
    EXPECT_EQ(pooled_path->norm->num_batches_tracked.item<int64_t>(), step + 1);
  }
  reference->eval();
  pooled_path->eval();
  torch::NoGradGuard no_grad;
  expect_close(pooled_path->forward_from_pooled(summary), reference->forward_after_conv(conv_out), "evaluation output");
}

INSTANTIATE_TEST_SUITE_P(Activations, PooledFirstConvTest, ::testing::Values("relu", "elu", "none"));

TEST(PooledFirstConv, CatOfPartsEqualsTheSummaryOfAllImages) {
  const at::Tensor conv_out = torch::randn({7, 3, 6, 9});
  const auto whole = PooledFirstConv::from_conv_output(conv_out);
  const auto joined = PooledFirstConv::cat({PooledFirstConv::from_conv_output(conv_out.narrow(0, 0, 3)),
                                            PooledFirstConv::from_conv_output(conv_out.narrow(0, 3, 4))});
  EXPECT_TRUE(torch::equal(joined.max, whole.max));
  EXPECT_TRUE(torch::equal(joined.min, whole.min));
  EXPECT_TRUE(torch::equal(joined.sum, whole.sum));
  EXPECT_TRUE(torch::equal(joined.sum_sq, whole.sum_sq));
  EXPECT_EQ(joined.count, whole.count);
  // Parts of different map sizes cannot be joined.
  EXPECT_THROW(PooledFirstConv::cat({whole, PooledFirstConv::from_conv_output(torch::randn({1, 3, 4, 4}))}),
               c10::Error);
}

TEST(PooledFirstConv, AvgPoolAndStridedLayersDoNotStartFromPooled) {
  MinimodelCoreOptions o;
  o.avgpool = true;
  EXPECT_FALSE(MinimodelLayer(o, 0)->starts_from_pooled());
  o.avgpool = false;
  o.pool = false;
  EXPECT_FALSE(MinimodelLayer(o, 0)->starts_from_pooled());
  o.pool = true;
  EXPECT_TRUE(MinimodelLayer(o, 0)->starts_from_pooled());
  EXPECT_FALSE(MinimodelLayer(o, 1)->starts_from_pooled());
}

TEST(GatherRows, EqualsIndexSelectAndRejectsRowsOutOfRange) {
  at::Tensor src = torch::randn({7, 3, 4, 5});
  at::Tensor rows = torch::tensor({6, 0, 0, 3});
  EXPECT_TRUE(torch::equal(fovea::nn::gather_rows(src, rows), src.index_select(0, rows)));
  at::Tensor sums = torch::randn({7, 3}, torch::kFloat64);
  EXPECT_TRUE(torch::equal(fovea::nn::gather_rows(sums, rows), sums.index_select(0, rows)));
  EXPECT_THROW(fovea::nn::gather_rows(src, torch::tensor({1, 7})), std::exception);
}

}  // namespace
