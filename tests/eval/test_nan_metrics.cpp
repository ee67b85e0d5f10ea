// minimodel's NaN-aware measures (fev_nan, feve_nan, monkey_feve) on a small
// array with missing trials, against values computed by hand from the
// formulas of metrics.py, and on golden/metrics (no NaN), where they must
// equal minimodel's fev/feve as the reference code computed them.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <string>

#include "fovea/eval/metrics_nan.h"
#include "fovea/io/npy.h"
#include "test_util.h"

namespace {

const double kNaN = std::nan("");

// 2 stimuli x 3 repeats x 2 neurons, NaN = missing trial.
//   neuron 0: stimulus 0 {1, 3, -}, stimulus 1 {4, 6, 8}; predictions 2, 5
//   neuron 1: stimulus 0 {2, -, -}, stimulus 1 {0, 2, 4}; predictions 1, 2
at::Tensor responses() {
  return torch::tensor({1.0, 2.0, 3.0, kNaN, kNaN, kNaN, 4.0, 0.0, 6.0, 2.0, 8.0, 4.0}, torch::kFloat64)
      .reshape({2, 3, 2});
}
at::Tensor predictions() { return torch::tensor({2.0, 1.0, 5.0, 2.0}, torch::kFloat64).reshape({2, 2}); }

// By hand:
// neuron 0: trials {1,3,4,6,8}: mean 4.4, Σdev² 29.2, total 29.2/4 = 7.3;
//   noise = mean(var{1,3} = 2, var{4,6,8} = 4) = 3; mse = (1+1+1+1+9)/5 = 2.6;
//   FEV = 4.3/7.3; FEVE = 1 - (2.6-3)/4.3.
// neuron 1: trials {2,0,2,4}: total 8/3; noise = nanmean(NaN (one value), 4) = 4;
//   mse = (1+4+0+4)/4 = 2.25; FEV = (8/3-4)/(8/3) = -0.5; FEVE = 1 - (2.25-4)/(8/3-4) = -0.3125.
TEST(NanMetrics, FevAndFeveSkipMissingTrials) {
  auto fev = fovea::eval::fev_nan(responses());
  ASSERT_EQ(fev.scalar_type(), at::kDouble);
  ASSERT_EQ(fev.sizes(), (at::IntArrayRef{2}));
  EXPECT_NEAR(fev[0].item<double>(), 4.3 / 7.3, 1e-12);
  EXPECT_NEAR(fev[1].item<double>(), -0.5, 1e-12);
  auto r = fovea::eval::feve_nan(responses(), predictions());
  EXPECT_NEAR(r.fev[0].item<double>(), 4.3 / 7.3, 1e-12);
  EXPECT_NEAR(r.feve[0].item<double>(), 1.0 + 0.4 / 4.3, 1e-12);
  EXPECT_NEAR(r.feve[1].item<double>(), -0.3125, 1e-12);
  // multi_repeats=False: noise 0, so FEV = 1 and FEVE = 1 - mse/total.
  auto single = fovea::eval::feve_nan(responses(), predictions(), /*multi_repeats=*/false);
  EXPECT_NEAR(single.fev[0].item<double>(), 1.0, 1e-12);
  EXPECT_NEAR(single.feve[0].item<double>(), 1.0 - 2.6 / 7.3, 1e-12);
  EXPECT_NEAR(single.feve[1].item<double>(), 1.0 - 2.25 / (8.0 / 3.0), 1e-12);
}

// monkey_feve, repetitions [2, 3]: neuron 0 keeps repeats 0-1 only (the 8 is
// dropped): trials {1,3,4,6}: total 13/3, noise mean(2, 2) = 2, mse 1:
// FEV = (13/3-2)/(13/3) = 7/13, FEVE = 1 - (1-2)/(7/3) = 1 + 3/7; neuron 1 as above.
TEST(NanMetrics, MonkeyFeveUsesEachNeuronsFirstRepetitions) {
  auto r = fovea::eval::monkey_feve(responses(), predictions(), torch::tensor({2, 3}, torch::kInt64));
  EXPECT_NEAR(r.fev[0].item<double>(), 7.0 / 13.0, 1e-12);
  EXPECT_NEAR(r.feve[0].item<double>(), 1.0 + 3.0 / 7.0, 1e-12);
  EXPECT_NEAR(r.fev[1].item<double>(), -0.5, 1e-12);
  EXPECT_NEAR(r.feve[1].item<double>(), -0.3125, 1e-12);
  // One repetition: no noise variance anywhere -> NaN (NumPy: nanmean of all-NaN);
  // a count above the repeats takes all of them, as Python's slicing.
  r = fovea::eval::monkey_feve(responses(), predictions(), torch::tensor({1, 7}, torch::kInt32));
  EXPECT_TRUE(std::isnan(r.fev[0].item<double>()));
  EXPECT_TRUE(std::isnan(r.feve[0].item<double>()));
  EXPECT_NEAR(r.feve[1].item<double>(), -0.3125, 1e-12);
}

TEST(NanMetrics, BadShapesNameTheMeasure) {
  auto msg = fovea::test::error_of([] { fovea::eval::fev_nan(torch::zeros({3, 4})); });
  EXPECT_NE(msg.find("fev_nan"), std::string::npos) << msg;
  msg = fovea::test::error_of([] { fovea::eval::feve_nan(responses(), torch::zeros({2, 3})); });
  EXPECT_NE(msg.find("predictions must be (stimuli, neurons) = (2, 2)"), std::string::npos) << msg;
  msg = fovea::test::error_of(
      [] { fovea::eval::monkey_feve(responses(), predictions(), torch::tensor({2}, torch::kInt64)); });
  EXPECT_NE(msg.find("repetitions must hold one count per neuron (2)"), std::string::npos) << msg;
  msg = fovea::test::error_of(
      [] { fovea::eval::monkey_feve(responses(), predictions(), torch::tensor({2, -1}, torch::kInt64)); });
  EXPECT_NE(msg.find("repetitions must be >= 0"), std::string::npos) << msg;
}

// Without missing trials the NaN-aware measures are minimodel's fev/feve:
// golden/metrics holds those as the reference computed them.
TEST(NanMetrics, WithoutNaNTheyEqualMinimodelsGoldenFevFeve) {
  const std::string dir = std::string(FOVEA_GOLDEN_DIR) + "/metrics/";
  if (!std::filesystem::exists(dir + "minimodel_feve.npy")) GTEST_SKIP() << "golden metrics not found in " << dir;
  at::Tensor y = fovea::io::read_npy(dir + "responses_frames_repeats_neurons.npy");
  at::Tensor p = fovea::io::read_npy(dir + "predictions_frames_neurons.npy");
  at::Tensor fev = fovea::io::read_npy(dir + "minimodel_fev.npy").to(at::kDouble);
  at::Tensor feve = fovea::io::read_npy(dir + "minimodel_feve.npy").to(at::kDouble);
  EXPECT_LT(fovea::test::relative_error(fovea::eval::fev_nan(y), fev), 1e-10);
  auto r = fovea::eval::feve_nan(y, p);
  EXPECT_LT(fovea::test::relative_error(r.feve, feve), 1e-10);
  auto all = torch::full({y.size(2)}, y.size(1), torch::kInt64);
  auto m = fovea::eval::monkey_feve(y, p, all);
  EXPECT_LT(fovea::test::relative_error(m.fev, fev), 1e-10);
  EXPECT_LT(fovea::test::relative_error(m.feve, feve), 1e-10);
}

}  // namespace
