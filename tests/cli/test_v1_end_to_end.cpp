// End to end through the binary: simulate a small V1 dataset with known
// ground truth, train the full model briefly, evaluate, and compare with the
// ridge baseline on the same data.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_runner.h"

using fovea::test::run_fovea;

namespace {

double mean_feve(const std::string& eval_json) {
  std::ifstream in(eval_json);
  return nlohmann::json::parse(in)["mean"]["feve"].get<double>();
}

TEST(V1EndToEnd, TrainedFullModelBeatsRidgeOnSimulatedData) {
  fovea::test::TempDir dir;
  const std::string data = dir.file("data");
  auto sim = run_fovea("simulate v1 " + data + " --neurons 24 --train-images 1500 --test-images 60 --seed 3", dir);
  ASSERT_EQ(sim.code, 0) << sim.err;

  const std::string configs = std::string(FOVEA_SOURCE_DIR) + "/configs/";
  const std::string common = " data.images=" + data + "/images.npy data.responses=" + data +
                             "/responses.npz data.truth=" + data + "/ground_truth.npz --quiet --threads 1";
  // The demo preset (16-320 on 33x65 images), narrowed to 64 channels to keep the test short.
  auto full = run_fovea("train --config " + configs + "v1_demo.yaml output.dir=" + dir.file("full") +
                            " model.core.n_conv_mid=64" + common,
                        dir);
  ASSERT_EQ(full.code, 0) << full.err;
  EXPECT_NE(full.out.find("FEVE:"), std::string::npos) << full.out;
  for (const char* f : {"model.safetensors", "metrics.csv", "eval.csv", "eval.json"})
    EXPECT_TRUE(std::filesystem::exists(dir.file("full/") + f)) << f;

  auto ridge = run_fovea("train --config " + configs + "v1_demo_ridge.yaml output.dir=" + dir.file("ridge") + common, dir);
  ASSERT_EQ(ridge.code, 0) << ridge.err;

  const double feve_full = mean_feve(dir.file("full/eval.json"));
  const double feve_ridge = mean_feve(dir.file("ridge/eval.json"));
  std::cout << "FEVE full model " << feve_full << ", ridge " << feve_ridge << std::endl;
  EXPECT_GT(feve_full, feve_ridge + 0.2);
  EXPECT_GT(feve_full, 0.35);

  // `fovea eval` on the saved model reproduces the training run's evaluation.
  auto ev = run_fovea("eval --model " + dir.file("full/model.safetensors") + " --data " + data + " -o " +
                          dir.file("eval2"),
                      dir);
  ASSERT_EQ(ev.code, 0) << ev.err;
  EXPECT_NEAR(mean_feve(dir.file("eval2/eval.json")), feve_full, 1e-6);

  auto info = run_fovea("info " + dir.file("full/model.safetensors"), dir);
  ASSERT_EQ(info.code, 0) << info.err;
  EXPECT_NE(info.out.find("24 neurons"), std::string::npos) << info.out;
}

}  // namespace
