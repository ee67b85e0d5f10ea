// minimodel's monkey V1 recipe end to end through the binary, on a small file
// in the exact layout of monkeyv1_cadena_2019.npz (missing trials included):
// `fovea train --config configs/v1_monkey_fullmodel.yaml data.dir=...` with a
// tiny core, then `fovea eval`, which reports minimodel's monkey FEVE.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "cli_runner.h"
#include "data/monkey_v1_files.h"

using fovea::test::run_fovea;

namespace {

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

TEST(MonkeyV1Cli, TrainsWithMaskedLossAndEvaluatesMonkeyFeve) {
  fovea::test::TempDir dir;
  const std::string data = dir.file("data");
  std::filesystem::create_directories(data);
  fovea::test::synthetic_monkey_v1().write(data + "/monkeyv1_cadena_2019.npz");

  const std::string preset = std::string(FOVEA_SOURCE_DIR) + "/configs/v1_monkey_fullmodel.yaml";
  auto train = run_fovea("train --config " + preset + " data.dir=" + data + " output.dir=" + dir.file("run") +
                             " model.core.n_conv=4 model.core.n_conv_mid=8 'model.core.kernel_size=[5, 3]'"
                             " 'training.period_epochs=[2, 1]' training.batch_size=40 --quiet --threads 1",
                         dir);
  ASSERT_EQ(train.code, 0) << train.err << train.out;
  EXPECT_NE(train.out.find("FEVE:"), std::string::npos) << train.out;
  for (const char* f : {"model.safetensors", "metrics.csv", "eval.csv", "eval.json"})
    EXPECT_TRUE(std::filesystem::exists(dir.file("run/") + f)) << f;

  const auto summary = read_json(dir.file("run/eval.json"));
  EXPECT_EQ(summary["n_neurons"], 3);
  EXPECT_EQ(summary["n_stimuli"], 20);
  EXPECT_EQ(summary["n_repeats"], 4);
  ASSERT_TRUE(summary["feve_all_neurons"].is_number()) << summary.dump();
  EXPECT_TRUE(std::isfinite(summary["feve_all_neurons"].get<double>()));
  EXPECT_TRUE(summary["mean"]["repetitions"].is_number()) << summary.dump();
  // No early stopping: every epoch of the schedule ran (2 + 1).
  const std::string csv = fovea::test::slurp(dir.file("run/metrics.csv"));
  EXPECT_EQ(fovea::test::line_count(csv), 1 + 3);
  // The masked loss is a mean over each neuron's real trials (about 1 here);
  // the mouse recipe's sum over the batch of 40 would be about 40 times larger.
  std::istringstream rows(csv);
  std::string header, first, cell;
  std::getline(rows, header);
  std::getline(rows, first);
  std::istringstream cells(first);
  for (int c = 0; c < 4; ++c) std::getline(cells, cell, ',');  // epoch,period,lr,train_loss
  ASSERT_EQ(header.rfind("epoch,period,lr,train_loss", 0), 0u) << header;
  EXPECT_LT(std::stod(cell), 5.0) << first;

  // `fovea eval` finds the .npz in the folder from the model's recorded layout
  // and reproduces the training run's evaluation.
  auto ev = run_fovea("eval --model " + dir.file("run/model.safetensors") + " --data " + data + " -o " +
                          dir.file("eval2"),
                      dir);
  ASSERT_EQ(ev.code, 0) << ev.err;
  const auto again = read_json(dir.file("eval2/eval.json"));
  EXPECT_NEAR(again["feve_all_neurons"].get<double>(), summary["feve_all_neurons"].get<double>(), 1e-6);
  EXPECT_NE(ev.out.find("feve"), std::string::npos) << ev.out;
}

TEST(MonkeyV1Cli, ABadFileIsOneLineNamingTheFileAndTheKey) {
  fovea::test::TempDir dir;
  const std::string data = dir.file("data");
  std::filesystem::create_directories(data);
  auto f = fovea::test::synthetic_monkey_v1(50, 2, 5, 8);
  f["real_responses"] = torch::ones({50, 3}, torch::kBool);
  const std::string file = data + "/monkeyv1_cadena_2019.npz";
  f.write(file);
  const std::string preset = std::string(FOVEA_SOURCE_DIR) + "/configs/v1_monkey_fullmodel.yaml";
  auto r = run_fovea("train --config " + preset + " data.dir=" + data + " output.dir=" + dir.file("run") +
                         " --quiet --threads 1",
                     dir);
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(fovea::test::line_count(r.err), 1) << r.err;
  EXPECT_NE(r.err.find(file + ": real_responses has the shape (50, 3) but responses has (50, 2)"), std::string::npos)
      << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir.file("run")));
}

}  // namespace
