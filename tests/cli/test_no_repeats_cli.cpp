// A recording without repeated test trials (issue 19, "your own recording"):
// `fovea train` and `fovea eval` report correlation, Poisson and MSE metrics
// and leave FEV, FEVE and the oracle empty (null in eval.json, empty cells in
// eval.csv) with a note saying why. Datasets are small `fovea simulate` runs
// cut to one test trial.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli_runner.h"
#include "fovea/io/hdf5.h"
#include "fovea/io/npy.h"

using fovea::test::run_fovea;

namespace {

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> cells;
  std::stringstream ss(line);
  std::string cell;
  while (std::getline(ss, cell, ',')) cells.push_back(cell);
  return cells;
}

// eval.csv as (header, rows).
std::pair<std::vector<std::string>, std::vector<std::vector<std::string>>> read_csv(const std::string& path) {
  std::istringstream in(fovea::test::slurp(path));
  std::string line;
  std::getline(in, line);
  auto header = split(line);
  std::vector<std::vector<std::string>> rows;
  while (std::getline(in, line))
    if (!line.empty()) rows.push_back(split(line));
  return {header, rows};
}

size_t column_index(const std::vector<std::string>& header, const std::string& name) {
  for (size_t i = 0; i < header.size(); ++i)
    if (header[i] == name) return i;
  ADD_FAILURE() << "eval.csv has no column " << name;
  return 0;
}

// Rewrites a simulated session file with only the first test trial
// (test_by_trial/test (1, N, T), responses_test = that trial).
void keep_one_test_trial(const std::string& file) {
  using fovea::io::read_h5_dataset;
  std::vector<std::pair<std::string, at::Tensor>> sets;
  const at::Tensor trial = read_h5_dataset(file, "test_by_trial/test").slice(0, 0, 1).contiguous();
  sets.emplace_back("responses_train", read_h5_dataset(file, "responses_train"));
  sets.emplace_back("responses_test", trial[0].clone());
  sets.emplace_back("test_by_trial/test", trial);
  for (const auto& name : fovea::io::h5_members(file, "session_info"))
    sets.emplace_back("session_info/" + name, read_h5_dataset(file, "session_info/" + name));
  fovea::io::write_h5(file, sets);
}

void expect_noise_ceiling_left_empty(const nlohmann::json& summary, const std::string& csv) {
  for (const char* c : {"fev", "feve", "feve_openretina", "var_ratio", "oracle_jackknife"})
    EXPECT_TRUE(summary["mean"][c].is_null()) << c << ": " << summary["mean"][c];
  for (const char* c : {"corr_to_average", "per_trial_corr", "poisson_loss_to_average", "mse_to_average"}) {
    ASSERT_TRUE(summary["mean"][c].is_number()) << c;
    EXPECT_TRUE(std::isfinite(summary["mean"][c].get<double>())) << c;
  }
  EXPECT_GT(summary["mean"]["mse_to_average"].get<double>(), 0.0);
  EXPECT_EQ(summary["n_repeats"].get<int64_t>(), 1);
  EXPECT_EQ(summary["n_included"], summary["n_neurons"]) << "without repeats every neuron counts";
  EXPECT_EQ(summary["criterion"].get<std::string>(), "all (no repeated trials)");
  EXPECT_EQ(summary["note"].get<std::string>(),
            "FEV, FEVE and oracle need ≥ 2 repeats of the test stimulus; this dataset has 1");

  const auto [header, rows] = read_csv(csv);
  ASSERT_FALSE(rows.empty());
  const size_t fev = column_index(header, "feve"), corr = column_index(header, "corr_to_average"),
               poisson = column_index(header, "poisson_loss_to_average");
  for (const auto& row : rows) {
    ASSERT_EQ(row.size(), header.size());
    EXPECT_EQ(row[fev], "") << "FEVE is an empty cell";
    EXPECT_FALSE(row[corr].empty());
    EXPECT_NO_THROW(std::stod(row[poisson]));
  }
}

}  // namespace

TEST(NoRepeatedTrials, RetinaTrainAndEvalReportCorrelationPoissonAndMseWithANote) {
  fovea::test::TempDir dir;
  const std::string data = dir.file("data");
  auto sim = run_fovea("simulate retina " + data +
                           " --sessions 2 --neurons-per-session 5 --train-frames 1500 --test-frames 120 --seed 4",
                       dir);
  ASSERT_EQ(sim.code, 0) << sim.err;
  const std::string original = dir.file("repeated");  // the 3-repeat session, kept for the mixed case
  std::filesystem::create_directories(original);
  std::filesystem::copy(data, original, std::filesystem::copy_options::recursive);
  for (const char* s : {"session_0.h5", "session_1.h5"}) keep_one_test_trial(data + "/" + s);

  const std::string configs = std::string(FOVEA_SOURCE_DIR) + "/configs/";
  auto train = run_fovea("train --config " + configs + "retina_demo.yaml data.dir=" + data + " output.dir=" +
                             dir.file("run") + " training.max_epochs=2 training.batch_size=8 --quiet --threads 1",
                         dir);
  ASSERT_EQ(train.code, 0) << train.err;
  EXPECT_NE(train.out.find("note: FEV, FEVE and oracle need ≥ 2 repeats of the test stimulus; this dataset has 1"),
            std::string::npos)
      << train.out;
  EXPECT_EQ(train.out.find("feve"), std::string::npos) << "absent measures are not printed:\n" << train.out;
  expect_noise_ceiling_left_empty(read_json(dir.file("run/eval.json")), dir.file("run/eval.csv"));

  auto ev = run_fovea("eval --model " + dir.file("run/model.safetensors") + " --data " + data + " -o " +
                          dir.file("eval") + " --threads 1",
                      dir);
  ASSERT_EQ(ev.code, 0) << ev.err;
  const auto again = read_json(dir.file("eval/eval.json"));
  expect_noise_ceiling_left_empty(again, dir.file("eval/eval.csv"));
  EXPECT_NEAR(again["mean"]["corr_to_average"].get<double>(),
              read_json(dir.file("run/eval.json"))["mean"]["corr_to_average"].get<double>(), 1e-9);

  // The figures of plot-eval read the empty cells.
  auto plots = run_fovea("plot-eval --eval " + dir.file("eval/eval.csv") + " -o " + dir.file("figs"), dir);
  EXPECT_EQ(plots.code, 0) << plots.err;

  // One session with 3 repeats, one with 1: openretina's filter keeps the
  // repeated session's neurons (var_ratio >= 0.15) and leaves the other out.
  std::filesystem::copy_file(original + "/session_1.h5", data + "/session_1.h5",
                             std::filesystem::copy_options::overwrite_existing);
  auto mixed = run_fovea("eval --model " + dir.file("run/model.safetensors") + " --data " + data + " -o " +
                             dir.file("mixed") + " --threads 1",
                         dir);
  ASSERT_EQ(mixed.code, 0) << mixed.err;
  const auto m = read_json(dir.file("mixed/eval.json"));
  EXPECT_EQ(m["criterion"].get<std::string>(), "var_ratio");
  EXPECT_EQ(m["n_trials_per_session"]["session_0"].get<int64_t>(), 1);
  EXPECT_EQ(m["n_trials_per_session"]["session_1"].get<int64_t>(), 3);
  EXPECT_NE(m["note"].get<std::string>().find("session(s) session_0 have 1"), std::string::npos) << m["note"];
  EXPECT_TRUE(m["mean"]["feve_openretina"].is_number()) << "session_1's neurons have a FEVE";
  const auto [header, rows] = read_csv(dir.file("mixed/eval.csv"));
  const size_t feve = column_index(header, "feve_openretina");
  ASSERT_EQ(rows.size(), 10u);
  for (const auto& row : rows) {
    if (row[0] == "session_0") {
      EXPECT_EQ(row[feve], "");
      EXPECT_EQ(row.back(), "0") << "left out of the summary";
    } else {
      EXPECT_NE(row[feve], "");
    }
  }
}

TEST(NoRepeatedTrials, V1TrainAndEvalReportCorrelationPoissonAndMseWithANote) {
  fovea::test::TempDir dir;
  const std::string data = dir.file("data");
  auto sim = run_fovea("simulate v1 " + data + " --neurons 6 --train-images 300 --test-images 20 --seed 2", dir);
  ASSERT_EQ(sim.code, 0) << sim.err;
  // One repeat of each test image.
  auto arrays = fovea::io::read_npz(data + "/responses.npz");
  for (auto& [key, t] : arrays)
    if (key == "ss_all") t = t.slice(1, 0, 1).contiguous();
  fovea::io::write_npz(data + "/responses.npz", arrays);

  const std::string configs = std::string(FOVEA_SOURCE_DIR) + "/configs/";
  const std::string files = " data.images=" + data + "/images.npy data.responses=" + data + "/responses.npz";
  auto train = run_fovea("train --config " + configs + "v1_demo.yaml output.dir=" + dir.file("run") + files +
                             " model.core.n_conv_mid=8 training.period_epochs=[1] --quiet --threads 1",
                         dir);
  ASSERT_EQ(train.code, 0) << train.err;
  EXPECT_NE(train.out.find("note: FEV, FEVE and oracle need ≥ 2 repeats of the test stimulus; this dataset has 1"),
            std::string::npos)
      << train.out;
  EXPECT_NE(train.out.find("all included (no repeated trials)"), std::string::npos) << train.out;
  expect_noise_ceiling_left_empty(read_json(dir.file("run/eval.json")), dir.file("run/eval.csv"));

  auto ev = run_fovea("eval --model " + dir.file("run/model.safetensors") + " --data " + data + " -o " +
                          dir.file("eval"),
                      dir);
  ASSERT_EQ(ev.code, 0) << ev.err;
  expect_noise_ceiling_left_empty(read_json(dir.file("eval/eval.json")), dir.file("eval/eval.csv"));
}
