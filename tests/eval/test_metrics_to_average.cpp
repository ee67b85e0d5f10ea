// openretina's eval measures against the trial average (Poisson loss and MSE)
// by hand, and the noise-ceiling measures of a dataset without repeats.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "fovea/error.h"
#include "fovea/eval/metrics.h"

namespace {

using namespace fovea::eval;

// 2 stimuli x 2 repeats x 1 neuron: trials 1, 3 | 5, 7 (averages 2 and 6).
at::Tensor two_by_two() { return at::tensor({1.0, 3.0, 5.0, 7.0}, at::kDouble).reshape({2, 2, 1}); }

TEST(MetricsToAverage, PoissonLossIsTheMeanOverStimuliOfPredictionMinusAverageTimesLogPrediction) {
  at::Tensor prediction = at::tensor({1.0, 4.0}, at::kDouble).reshape({2, 1});
  // ((1 - 2 log 1) + (4 - 6 log 4)) / 2.
  const double expected = (1.0 + 4.0 - 6.0 * std::log(4.0)) / 2.0;
  EXPECT_NEAR(poisson_loss_to_average(two_by_two(), prediction)[0].item<double>(), expected, 1e-12);
  // A zero prediction stays finite only through openretina's 1e-16.
  at::Tensor zero = at::zeros({2, 1}, at::kDouble);
  EXPECT_NEAR(poisson_loss_to_average(two_by_two(), zero)[0].item<double>(), -4.0 * std::log(1e-16), 1e-6);
}

TEST(MetricsToAverage, MseIsTheMeanSquaredDifferenceToTheAverage) {
  at::Tensor prediction = at::tensor({1.0, 4.0}, at::kDouble).reshape({2, 1});
  EXPECT_NEAR(mse_to_average(two_by_two(), prediction)[0].item<double>(), (1.0 + 4.0) / 2.0, 1e-12);
  // One repeat: the average is the trial itself.
  at::Tensor one = at::tensor({1.0, 5.0}, at::kDouble).reshape({2, 1, 1});
  EXPECT_NEAR(mse_to_average(one, prediction)[0].item<double>(), (0.0 + 1.0) / 2.0, 1e-12);
  EXPECT_THROW(mse_to_average(one, at::zeros({3, 1}, at::kDouble)), fovea::Error);
}

TEST(MetricsToAverage, FevWithoutRepeatsIsNaNPerNeuronAndTheNoteSaysWhy) {
  at::Tensor one = at::rand({10, 1, 3}, at::kDouble);
  at::Tensor f = fev_if_repeated(one);
  ASSERT_EQ(f.sizes(), (std::vector<int64_t>{3}));
  EXPECT_TRUE(torch::isnan(f).all().item<bool>());
  // With repeats it is fev.
  EXPECT_TRUE(torch::allclose(fev_if_repeated(two_by_two()), fev(two_by_two())));
  EXPECT_EQ(noise_ceiling_note(1), "FEV, FEVE and oracle need ≥ 2 repeats of the test stimulus; this dataset has 1");
}

}  // namespace
