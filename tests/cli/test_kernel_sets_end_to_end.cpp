// The fast kernels (fovea's depthwise kernel, the caching allocator, the
// pooled first-conv cache of minimodels) change how a training run computes,
// not what it reaches: a full V1 model and two minimodels trained with
// `--kernels reference` and `--kernels fast` on the same simulated data reach
// the same best validation score within 0.01, and the full model the same
// test FEVE (issue 5's "equal results").
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli_runner.h"

using fovea::test::run_fovea;

namespace {

// The last row's best validation score of a metrics.csv.
double best_validation_score(const std::string& metrics_csv) {
  std::ifstream in(metrics_csv);
  std::string line, last;
  while (std::getline(in, line))
    if (!line.empty()) last = line;
  std::vector<std::string> fields;
  std::stringstream row(last);
  for (std::string f; std::getline(row, f, ',');) fields.push_back(f);
  EXPECT_EQ(fields.size(), 7u) << metrics_csv << ": " << last;  // epoch,period,lr,loss,score,best,seconds
  return fields.size() == 7 ? std::stod(fields[5]) : 0.0;
}

double mean_feve(const std::string& eval_json) {
  return nlohmann::json::parse(fovea::test::slurp(eval_json))["mean"]["feve"].get<double>();
}

// The best validation score a saved model's training reached (its provenance).
double saved_best_validation_score(const std::string& model, const fovea::test::TempDir& dir) {
  auto info = run_fovea("info --json " + model, dir);
  EXPECT_EQ(info.code, 0) << info.err;
  return nlohmann::json::parse(info.out)["provenance"]["best_val_varexp"].get<double>();
}

TEST(KernelSets, FastAndReferenceTrainingReachTheSameScores) {
  fovea::test::TempDir dir;
  const std::string data = dir.file("data");
  ASSERT_EQ(run_fovea("simulate v1 " + data + " --neurons 12 --train-images 1000 --test-images 40 --seed 5", dir).code,
            0);
  const std::string data_args = " data.images=" + data + "/images.npy data.responses=" + data + "/responses.npz";
  const std::string config = std::string(FOVEA_SOURCE_DIR) + "/configs/v1_demo.yaml";
  for (const std::string kernels : {"reference", "fast"}) {
    auto r = run_fovea("train --config " + config + " output.dir=" + dir.file("full_" + kernels) +
                           " model.core.n_conv_mid=32 training.period_epochs=[10,3]" + data_args +
                           " --quiet --threads 1 --kernels " + kernels,
                       dir);
    ASSERT_EQ(r.code, 0) << kernels << ": " << r.err;
  }
  const double best_reference = best_validation_score(dir.file("full_reference/metrics.csv"));
  const double best_fast = best_validation_score(dir.file("full_fast/metrics.csv"));
  std::cout << "best validation score: reference " << best_reference << ", fast " << best_fast << std::endl;
  EXPECT_NEAR(best_fast, best_reference, 0.01);
  const double feve_reference = mean_feve(dir.file("full_reference/eval.json"));
  const double feve_fast = mean_feve(dir.file("full_fast/eval.json"));
  std::cout << "test FEVE: reference " << feve_reference << ", fast " << feve_fast << std::endl;
  EXPECT_GT(feve_reference, 0.1);  // a trained model, not noise
  EXPECT_NEAR(feve_fast, feve_reference, 0.01);

  // Minimodels from the same full model: the fast path trains them from the
  // cached, pooled first-conv outputs, the reference path runs the conv.
  for (const std::string kernels : {"reference", "fast"}) {
    auto r = run_fovea("minimodels --full-model " + dir.file("full_reference/model.safetensors") + " --data " + data +
                           " --neurons 0,4 -o " + dir.file("mini_" + kernels) +
                           " training.period_epochs=[8,2] training.batch_size=50 training.lr=0.002 --quiet"
                           " --threads 1 --kernels " +
                           kernels,
                       dir);
    ASSERT_EQ(r.code, 0) << kernels << ": " << r.err;
  }
  for (const std::string neuron : {"0", "4"}) {
    const double reference =
        saved_best_validation_score(dir.file("mini_reference/minimodel_n" + neuron + ".safetensors"), dir);
    const double fast = saved_best_validation_score(dir.file("mini_fast/minimodel_n" + neuron + ".safetensors"), dir);
    std::cout << "minimodel of neuron " << neuron << ", best validation score: reference " << reference << ", fast "
              << fast << std::endl;
    EXPECT_NEAR(fast, reference, 0.01) << "neuron " << neuron;
  }
}

}  // namespace
