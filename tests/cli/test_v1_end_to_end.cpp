// End to end through the binary: simulate a small V1 dataset with known
// ground truth, train the full model briefly, evaluate, and compare with the
// ridge baseline on the same data.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <nlohmann/json.hpp>

#include "cli_runner.h"
#include "fovea/io/npy.h"

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

  // The neuron's preferred training images: listed in order of the model's own prediction.
  auto top = run_fovea("top-images --model " + dir.file("full/model.safetensors") + " --data " + data +
                           " --neuron 3 -o " + dir.file("top"),
                       dir);
  ASSERT_EQ(top.code, 0) << top.err;
  EXPECT_TRUE(std::filesystem::exists(dir.file("top/neuron_3_top_images.png")));
  // (The ranking itself is checked against the model in tests/insilico/test_top_images.cpp.)
  const auto listed = nlohmann::json::parse(fovea::test::slurp(dir.file("top/top_images.json")))[0];
  ASSERT_EQ(listed["top_images"].size(), 16u);
  std::set<int64_t> distinct;
  for (const auto& i : listed["top_images"]) distinct.insert(i.get<int64_t>());
  EXPECT_EQ(distinct.size(), 16u);
  double previous_wc = 1e9;
  for (const auto& c : listed["channels"]) {
    const double wc = c["wc"].get<double>();
    EXPECT_GT(std::abs(wc), 0.01);
    EXPECT_LE(wc, previous_wc);  // most positive first
    previous_wc = wc;
    EXPECT_EQ(c["top_images"].size(), 8u);
  }

  // visualize with the data: weights, MEIs, evaluation figures, the page.
  auto vis = run_fovea("visualize --model-path " + dir.file("full/model.safetensors") + " --save-folder " +
                           dir.file("vis") + " --data " + data + " --steps 2 --image-file-format png --threads 1",
                       dir);
  ASSERT_EQ(vis.code, 0) << vis.err;
  for (const char* f : {"index.html", "weights_core/weights_layer_0/15.png", "weights_core/weights_layer_1/63.png",
                        "weights_readout/readout/neuron_23.png", "weights_readout/Wc_matrix.png",
                        "core_features_layer1/63.png", "output_neurons/readout/23.npy",
                        "evaluation/readout/neuron_23.png", "evaluation/feve_histogram.png", "evaluation/eval.csv"})
    EXPECT_TRUE(std::filesystem::exists(dir.file("vis/") + f)) << f;
  // The ridge model's readout figures are its linear receptive fields.
  auto ridge_vis = run_fovea("visualize --model-path " + dir.file("ridge/model.safetensors") + " --save-folder " +
                                 dir.file("ridge_vis") + " --no-meis --image-file-format png",
                             dir);
  ASSERT_EQ(ridge_vis.code, 0) << ridge_vis.err;
  EXPECT_TRUE(std::filesystem::exists(dir.file("ridge_vis/weights_readout/readout/neuron_0.png")));

  // Minimodels from the full model's first layer: two neurons, a short schedule.
  auto mini = run_fovea("minimodels --full-model " + dir.file("full/model.safetensors") + " --data " + data +
                            " --neurons 0,5 -o " + dir.file("mini") +
                            " training.period_epochs=[6,2] training.batch_size=25 training.lr=0.003 --quiet --threads 1",
                        dir);
  ASSERT_EQ(mini.code, 0) << mini.err;
  std::ifstream summary(dir.file("mini/summary.csv"));
  std::string header, line;
  std::getline(summary, header);
  EXPECT_EQ(header, "neuron,fev,feve_full,feve_minimodel,channels_used,channels,model");
  int rows = 0;
  while (std::getline(summary, line)) {
    ++rows;
    double values[6];
    ASSERT_EQ(std::sscanf(line.c_str(), "%lf,%lf,%lf,%lf,%lf,%lf", &values[0], &values[1], &values[2], &values[3],
                          &values[4], &values[5]),
              6)
        << line;
    EXPECT_EQ(values[5], 64);                       // 16-64 minimodel
    EXPECT_LE(values[4], 64);                       // channels with |Wc| > 0.01
    EXPECT_GT(values[3], -1.0) << line;             // a fitted model, not noise
  }
  EXPECT_EQ(rows, 2);
  EXPECT_TRUE(std::filesystem::exists(dir.file("mini/minimodel_n5.safetensors")));
  auto mini_info = run_fovea("info " + dir.file("mini/minimodel_n5.safetensors"), dir);
  EXPECT_NE(mini_info.out.find("\"out_1x1\":false"), std::string::npos) << mini_info.out;
}

TEST(V1EndToEnd, TutorialOneLayerModelTrainsAndEvaluates) {
  fovea::test::TempDir dir;
  const std::string data = dir.file("data");
  ASSERT_EQ(run_fovea("simulate v1 " + data + " --neurons 8 --train-images 600 --test-images 30 --seed 1", dir).code, 0);
  auto r = run_fovea("train --config " + std::string(FOVEA_SOURCE_DIR) + "/configs/v1_conv1_tutorial.yaml data.images=" +
                         data + "/images.npy data.responses=" + data + "/responses.npz output.dir=" + dir.file("conv1") +
                         " training.period_epochs=[2,1] --quiet --threads 1",
                     dir);
  ASSERT_EQ(r.code, 0) << r.err;
  auto info = run_fovea("info --json " + dir.file("conv1/model.safetensors"), dir);
  ASSERT_EQ(info.code, 0) << info.err;
  auto spec = nlohmann::json::parse(info.out);
  EXPECT_EQ(spec["core"]["type"], "single_conv");
  EXPECT_EQ(spec["input_shape"], (nlohmann::json{1, 33, 65}));
  std::ifstream csv(dir.file("conv1/metrics.csv"));
  int lines = 0;
  for (std::string l; std::getline(csv, l);) ++lines;
  EXPECT_EQ(lines, 1 + 3);  // header + 3 epochs: no early stopping, no best-state restore in this recipe
}

}  // namespace
