// The measures on cases small enough to compute by hand, degenerate neurons,
// and bad shapes.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "fovea/error.h"
#include "fovea/eval/metrics.h"

namespace {

using namespace fovea::eval;

// 2 stimuli x 2 repeats x 1 neuron: trials 1, 3 | 5, 7.
// total = var(1,3,5,7; ddof 1) = 20/3; noise = mean(var(1,3), var(5,7)) = 2;
// FEV = (20/3 - 2) / (20/3) = 0.7.
at::Tensor two_by_two() { return at::tensor({1.0, 3.0, 5.0, 7.0}, at::kDouble).reshape({2, 2, 1}); }

TEST(MetricsByHand, Fev) { EXPECT_NEAR(fev(two_by_two())[0].item<double>(), 0.7, 1e-12); }

TEST(MetricsByHand, FeveIsUnclippedInMinimodelAndClippedInOpenretina) {
  // Prediction = the stimulus means 2 and 6: mse = 1 < noise = 2.
  at::Tensor prediction = at::tensor({2.0, 6.0}, at::kDouble).reshape({2, 1});
  // minimodel: 1 - (1 - 2) / (20/3 - 2) = 1 + 3/14.
  EXPECT_NEAR(feve(two_by_two(), prediction)[0].item<double>(), 1.0 + 3.0 / 14.0, 1e-12);
  // openretina clips the residual term at 0: exactly 1.
  EXPECT_NEAR(feve_openretina(two_by_two(), prediction)[0].item<double>(), 1.0, 1e-12);
  // A constant prediction 4: mse = 5; minimodel 1 - 3/(14/3) = 5/14; openretina the same (no clip hit).
  at::Tensor flat = at::full({2, 1}, 4.0, at::kDouble);
  EXPECT_NEAR(feve(two_by_two(), flat)[0].item<double>(), 5.0 / 14.0, 1e-12);
  EXPECT_NEAR(feve_openretina(two_by_two(), flat)[0].item<double>(), 5.0 / 14.0, 1e-8);
  // A bad prediction: openretina clips at 0, minimodel goes negative.
  at::Tensor bad = at::tensor({10.0, -10.0}, at::kDouble).reshape({2, 1});
  EXPECT_LT(feve(two_by_two(), bad)[0].item<double>(), 0.0);
  EXPECT_EQ(feve_openretina(two_by_two(), bad)[0].item<double>(), 0.0);
}

TEST(MetricsByHand, ExplainableVarianceRatio) {
  // (20/3 - 2) / (20/3 + 1e-9)
  EXPECT_NEAR(explainable_variance_ratio(two_by_two())[0].item<double>(), 0.7, 1e-9);
}

TEST(MetricsByHand, OracleJackknife) {
  // Leave-one-out means: 3, 1 | 7, 5. corr((1,3,5,7), (3,1,7,5)) = 12 / 20.
  EXPECT_NEAR(oracle_jackknife(two_by_two())[0].item<double>(), 0.6, 1e-8);
}

TEST(MetricsByHand, CorrelationToAverageAndPerTrial) {
  at::Tensor prediction = at::tensor({2.0, 6.0}, at::kDouble).reshape({2, 1});
  EXPECT_NEAR(correlation_to_average(two_by_two(), prediction)[0].item<double>(), 1.0, 1e-8);
  // Each repeat (1,5) and (3,7) is perfectly correlated with (2,6).
  EXPECT_NEAR(per_trial_correlation(two_by_two(), prediction)[0].item<double>(), 1.0, 1e-8);
  at::Tensor reversed = at::tensor({6.0, 2.0}, at::kDouble).reshape({2, 1});
  EXPECT_NEAR(correlation_to_average(two_by_two(), reversed)[0].item<double>(), -1.0, 1e-8);
}

TEST(MetricsByHand, VarianceExplained) {
  at::Tensor prediction = at::tensor({2.0, 6.0}, at::kDouble).reshape({2, 1});
  // 1 - mse / var(ddof 0) = 1 - 1 / 5.
  EXPECT_NEAR(variance_explained(two_by_two(), prediction)[0].item<double>(), 0.8, 1e-12);
}

TEST(MetricsByHand, NeuronsAreIndependent) {
  // Neuron 1 is neuron 0 scaled and shifted: every measure but the mse-based
  // ones is invariant; the order of neurons is kept.
  at::Tensor r = at::cat({two_by_two(), two_by_two() * 3.0 + 1.0, two_by_two().flip(0)}, 2);
  at::Tensor f = fev(r);
  ASSERT_EQ(f.sizes(), (at::IntArrayRef{3}));
  EXPECT_NEAR(f[1].item<double>(), 0.7, 1e-12);
  EXPECT_NEAR(f[2].item<double>(), 0.7, 1e-12);
  at::Tensor o = oracle_jackknife(r);
  EXPECT_NEAR(o[1].item<double>(), 0.6, 1e-8);
}

TEST(MetricsByHand, CorrelationTurnsNanIntoZero) {
  at::Tensor a = at::tensor({1.0, 2.0, 3.0, NAN}, at::kDouble).reshape({2, 2});
  at::Tensor b = at::tensor({1.0, 5.0, 2.0, 4.0}, at::kDouble).reshape({2, 2});
  at::Tensor c = correlation(a, b);
  EXPECT_NEAR(c[0].item<double>(), 1.0, 1e-6);  // std + 1e-8 in the denominators
  EXPECT_EQ(c[1].item<double>(), 0.0);
}

// A neuron that never changes: nothing throws, and each measure returns what
// the header documents.
TEST(MetricsDegenerate, ConstantNeuron) {
  at::Tensor r = at::rand({20, 5, 3}, at::kDouble);
  r.select(2, 1).fill_(0.25);
  at::Tensor prediction = at::rand({20, 3}, at::kDouble);
  at::Tensor f, fe, ratio, fo, oracle, cavg, ptc;
  ASSERT_NO_THROW({
    f = fev(r);
    fe = feve(r, prediction);
    ratio = explainable_variance_ratio(r);
    fo = feve_openretina(r, prediction);
    oracle = oracle_jackknife(r);
    cavg = correlation_to_average(r, prediction);
    ptc = per_trial_correlation(r, prediction);
  });
  EXPECT_TRUE(std::isnan(f[1].item<double>()));          // 0/0, as minimodel
  EXPECT_FALSE(std::isfinite(fe[1].item<double>()));     // -inf here (prediction differs)
  EXPECT_NEAR(ratio[1].item<double>(), 1.0, 1e-12);      // openretina: clip(0, 1e-9) / (0 + 1e-9)
  EXPECT_EQ(fo[1].item<double>(), 0.0);
  EXPECT_EQ(oracle[1].item<double>(), 0.0);
  EXPECT_EQ(cavg[1].item<double>(), 0.0);
  EXPECT_EQ(ptc[1].item<double>(), 0.0);
  // The other neurons are untouched by their constant neighbour.
  for (int64_t k : {0, 2}) {
    EXPECT_TRUE(std::isfinite(f[k].item<double>()));
    EXPECT_TRUE(std::isfinite(fe[k].item<double>()));
    EXPECT_GT(ratio[k].item<double>(), 0.0);
  }
  EXPECT_FALSE((f > 0.15)[1].item<bool>()) << "a constant neuron must not pass the FEV filter";
}

TEST(MetricsDegenerate, NoiseFreeRepeatsGiveFevOne) {
  at::Tensor stimulus = at::rand({30, 1, 4}, at::kDouble);
  at::Tensor r = stimulus.expand({30, 6, 4}).contiguous();
  EXPECT_TRUE(fev(r).allclose(at::ones({4}, at::kDouble)));
  at::Tensor exact = stimulus.squeeze(1);
  EXPECT_TRUE(feve(r, exact).allclose(at::ones({4}, at::kDouble)));
  EXPECT_TRUE(variance_explained(r, exact).allclose(at::ones({4}, at::kDouble)));
  EXPECT_TRUE(oracle_jackknife(r).allclose(at::ones({4}, at::kDouble), 1e-6));
}

TEST(MetricsErrors, BadShapesThrowFoveaError) {
  at::Tensor r = at::rand({10, 4, 3}, at::kDouble);
  EXPECT_THROW(fev(at::rand({10, 3})), fovea::Error);
  EXPECT_THROW(feve(r, at::rand({10, 4})), fovea::Error);
  EXPECT_THROW(feve(r, at::rand({9, 3})), fovea::Error);
  EXPECT_THROW(feve_openretina(r, at::rand({10, 3, 3})), fovea::Error);
  EXPECT_THROW(correlation(at::rand({5, 3}), at::rand({5, 2})), fovea::Error);
  EXPECT_THROW(correlation_to_average(r, at::rand({10})), fovea::Error);
  EXPECT_THROW(fev(at::Tensor()), fovea::Error);
}

TEST(MetricsErrors, NoiseMeasuresNeedTwoRepeats) {
  at::Tensor one_repeat = at::rand({10, 1, 3}, at::kDouble);
  try {
    fev(one_repeat);
    FAIL() << "fev with one repeat must throw";
  } catch (const fovea::Error& e) {
    EXPECT_NE(std::string(e.what()).find("at least 2 repeats"), std::string::npos) << e.what();
  }
  EXPECT_THROW(oracle_jackknife(one_repeat), fovea::Error);
  EXPECT_THROW(explainable_variance_ratio(one_repeat), fovea::Error);
  // The correlations do not need repeats.
  EXPECT_NO_THROW(correlation_to_average(one_repeat, at::rand({10, 3}, at::kDouble)));
}

}  // namespace
