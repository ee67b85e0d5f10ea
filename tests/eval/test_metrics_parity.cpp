// Parity of the evaluation measures with minimodel and openretina, on the
// cases in golden/metrics computed by the reference code (float64).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <string>

#include "fovea/eval/metrics.h"
#include "fovea/io/npy.h"

namespace {

const std::string kMetricsDir = std::string(FOVEA_GOLDEN_DIR) + "/metrics/";

class MetricsParity : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kMetricsDir + "responses_frames_repeats_neurons.npy"))
      GTEST_SKIP() << "golden metrics not found in " << kMetricsDir;
    responses = fovea::io::read_npy(kMetricsDir + "responses_frames_repeats_neurons.npy");
    predictions = fovea::io::read_npy(kMetricsDir + "predictions_frames_neurons.npy");
    ASSERT_EQ(responses.dim(), 3);
    ASSERT_EQ(predictions.dim(), 2);
  }

  // ‖a − b‖ / ‖b‖ with the reference b read from golden/metrics/<name>.npy.
  void expect_matches(const at::Tensor& ours, const std::string& name) {
    at::Tensor ref = fovea::io::read_npy(kMetricsDir + name + ".npy").to(at::kDouble);
    ASSERT_EQ(ours.sizes(), ref.sizes()) << name;
    EXPECT_EQ(ours.scalar_type(), at::kDouble) << name;
    ASSERT_TRUE(ref.isfinite().all().item<bool>()) << name;
    const double rel = (ours - ref).norm().item<double>() / ref.norm().item<double>();
    EXPECT_LT(rel, 1e-4) << name << ": relative error " << rel;
    std::cout << name << ": relative error " << rel << std::endl;
  }

  at::Tensor responses, predictions;
};

TEST_F(MetricsParity, MinimodelFev) { expect_matches(fovea::eval::fev(responses), "minimodel_fev"); }

TEST_F(MetricsParity, MinimodelFeve) { expect_matches(fovea::eval::feve(responses, predictions), "minimodel_feve"); }

TEST_F(MetricsParity, OpenretinaFeve) {
  expect_matches(fovea::eval::feve_openretina(responses, predictions), "openretina_feve");
}

TEST_F(MetricsParity, OpenretinaVarRatio) {
  expect_matches(fovea::eval::explainable_variance_ratio(responses), "openretina_var_ratio");
}

TEST_F(MetricsParity, OpenretinaOracleJackknife) {
  expect_matches(fovea::eval::oracle_jackknife(responses), "openretina_oracle_jackknife");
}

TEST_F(MetricsParity, CorrelationToAverage) {
  expect_matches(fovea::eval::correlation_to_average(responses, predictions), "correlation_to_average");
}

// The measures take any floating dtype: float32 input gives the same numbers
// up to float32 rounding of the input.
TEST_F(MetricsParity, Float32InputIsAccepted) {
  at::Tensor ours = fovea::eval::fev(responses.to(at::kFloat));
  at::Tensor ref = fovea::io::read_npy(kMetricsDir + "minimodel_fev.npy").to(at::kDouble);
  EXPECT_EQ(ours.scalar_type(), at::kDouble);
  EXPECT_LT((ours - ref).norm().item<double>() / ref.norm().item<double>(), 1e-4);
}

// openretina also accepts predictions repeated over trials (frames, repeats, neurons).
TEST_F(MetricsParity, OpenretinaFeveWithRepeatedPredictions) {
  at::Tensor repeated = predictions.unsqueeze(1).expand_as(responses).contiguous();
  expect_matches(fovea::eval::feve_openretina(responses, repeated), "openretina_feve");
}

}  // namespace
