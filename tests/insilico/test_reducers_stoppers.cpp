// Reducers against hand-computed means, and the stoppers against openretina's
// test_optimization_stopper cases.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "fovea/error.h"
#include "fovea/insilico/reducers.h"
#include "fovea/insilico/stoppers.h"

using namespace fovea::insilico;

namespace {
// 0, 1, ..., n-1 as float.
at::Tensor ramp(int64_t n) { return torch::arange(n, torch::kFloat32); }
double value(const at::Tensor& t) { return t.item<double>(); }
}  // namespace

TEST(Reducers, MeanReducerAveragesTheAxis) {
  const at::Tensor x = ramp(6).view({2, 3});  // [[0,1,2],[3,4,5]]
  EXPECT_TRUE(torch::allclose(MeanReducer(0).forward(x), torch::tensor({1.5f, 2.5f, 3.5f})));
  EXPECT_TRUE(torch::allclose(MeanReducer(1).forward(x), torch::tensor({1.0f, 4.0f})));
}

TEST(Reducers, SliceMeanReducerTakesTheWindow) {
  EXPECT_DOUBLE_EQ(value(SliceMeanReducer(0, 2, 3).forward(ramp(10))), (2 + 3 + 4) / 3.0);
  // Along axis 1 of (2, 10): row 1 is 10..19, window 4..5 -> 14, 15.
  const at::Tensor x = ramp(20).view({2, 10});
  EXPECT_TRUE(torch::allclose(SliceMeanReducer(1, 4, 2).forward(x), torch::tensor({4.5f, 14.5f})));
}

TEST(Reducers, SliceMeanReducerClipsAtTheEnd) {
  // start 7, length 10 on 10 steps: only 7, 8, 9 remain.
  EXPECT_DOUBLE_EQ(value(SliceMeanReducer(0, 7, 10).forward(ramp(10))), 8.0);
}

TEST(Reducers, SliceMeanReducerFallsBackToStartZero) {
  // start 10 on 10 steps: nothing left -> first min(length, 10) steps.
  EXPECT_DOUBLE_EQ(value(SliceMeanReducer(0, 10, 3).forward(ramp(10))), 1.0);
  EXPECT_DOUBLE_EQ(value(SliceMeanReducer(0, 25, 40).forward(ramp(10))), 4.5);
  // An image model's single step.
  EXPECT_DOUBLE_EQ(value(SliceMeanReducer(0, 10, 10).forward(torch::tensor({7.0f}))), 7.0);
}

TEST(Reducers, SliceMeanReducerRejectsBadArguments) {
  EXPECT_THROW(SliceMeanReducer(0, -1, 3), fovea::Error);
  EXPECT_THROW(SliceMeanReducer(0, 0, 0), fovea::Error);
}

TEST(Stoppers, OptimizationStopperNeverStopsEarly) {
  OptimizationStopper stopper(5);
  EXPECT_EQ(stopper.max_iterations(), 5);
  for (double loss : {1.0, 2.0, 3.0, 100.0}) EXPECT_FALSE(stopper.early_stop(loss));
  EXPECT_EQ(OptimizationStopper(std::nullopt).max_iterations(), std::numeric_limits<int64_t>::max());
}

struct StopperCase {
  double min_delta;
  int64_t patience;
  std::vector<double> losses;
  std::vector<bool> expected;
};

// openretina tests/optimization/test_optimization_stopper.py, all 7 cases.
TEST(Stoppers, EarlyStopperMatchesTheReferenceSequences) {
  const std::vector<StopperCase> cases = {
      {0.0, 1, {1.0}, {false}},
      {0.0, 1, {1.0, 1.1, 1.2, 1.3}, {false, true, true, true}},
      {0.0, 1, {1.0, 0.9, 0.8, 0.7}, {false, false, false, false}},
      {0.0, 3, {1.0, 1.1, 1.2, 1.3}, {false, false, false, true}},
      {0.0, 3, {1.0, 0.9, 0.8, 0.7}, {false, false, false, false}},
      {0.0, 3, {1.0, 0.9, 0.8, 0.7, 0.8, 0.9, 1.0, 1.1}, {false, false, false, false, false, false, true, true}},
      {0.1, 1, {1.0, 1.01, 1.09, 1.15, 0.9, 1.01}, {false, false, false, true, false, true}},
  };
  for (size_t c = 0; c < cases.size(); ++c) {
    EarlyStopper stopper(std::nullopt, cases[c].patience, cases[c].min_delta);
    ASSERT_EQ(cases[c].losses.size(), cases[c].expected.size());
    for (size_t i = 0; i < cases[c].losses.size(); ++i)
      EXPECT_EQ(stopper.early_stop(cases[c].losses[i]), cases[c].expected[i]) << "case " << c << " step " << i;
  }
}

TEST(Stoppers, EarlyStopperRejectsZeroPatience) { EXPECT_THROW(EarlyStopper(10, 0, 0.0), fovea::Error); }
