// The API layer (fovea/api/) called as a library, without the command line:
// simulate -> train -> evaluate / predict, the progress callback, and option
// errors. The command-line tests (tests/cli) cover the same calls through
// the binary.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

#include "api/api_test_util.h"
#include "data/temp_dir.h"
#include "fovea/api/evaluate.h"
#include "fovea/api/predict.h"
#include "fovea/api/runtime.h"
#include "fovea/api/simulate.h"
#include "fovea/api/train.h"
#include "fovea/error.h"

namespace fs = std::filesystem;
using fovea::testing::TempDir;

namespace {

// A small full model (8-16 channels on 33x65 images) trained for 3 epochs.
const std::string kTinyConfig = fovea::test::tiny_v1_config(8, 16, 3, 7);

int64_t count_lines(const std::string& path) {
  std::ifstream in(path);
  int64_t n = 0;
  for (std::string line; std::getline(in, line);) n += !line.empty();
  return n;
}

class ApiV1 : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    at::set_num_threads(1);
    dir_ = new TempDir("fovea_api");
    fovea::api::SimulateV1Options sim;
    sim.dir = dir_->file("data");
    sim.n_neurons = 6, sim.n_train_images = 300, sim.n_test_images = 12, sim.n_repeats = 4, sim.seed = 1;
    summary_ = new fovea::data::SimulateV1Summary(fovea::api::simulate_v1(sim));
  }
  static void TearDownTestSuite() {
    delete summary_;
    delete dir_;
  }
  static fovea::api::TrainOptions tiny_run(const std::string& output) {
    return fovea::test::v1_train_options("tiny config", kTinyConfig, dir_->file("data"), dir_->file(output));
  }
  static TempDir* dir_;
  static fovea::data::SimulateV1Summary* summary_;
};
TempDir* ApiV1::dir_ = nullptr;
fovea::data::SimulateV1Summary* ApiV1::summary_ = nullptr;

TEST_F(ApiV1, SimulateReturnsTheFilesItWrote) {
  EXPECT_EQ(summary_->n_neurons, 6);
  ASSERT_FALSE(summary_->files.empty());
  for (const auto& f : summary_->files) EXPECT_TRUE(fs::exists(f)) << f;
  EXPECT_EQ(summary_->fev.numel(), 6);
}

TEST_F(ApiV1, TrainReportsEveryEpochAndEvaluateReproducesItsEvaluation) {
  auto options = tiny_run("run");
  std::vector<fovea::api::Progress> seen;
  options.progress = [&](const fovea::api::Progress& p) { seen.push_back(p); };
  const auto run = fovea::api::train(options);

  // One report per epoch of the schedule, in order, with the epoch's loss.
  ASSERT_EQ(seen.size(), 3u);
  ASSERT_EQ(run.epochs.size(), 3u);
  for (size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i].stage, "epoch");
    EXPECT_EQ(seen[i].step, static_cast<int64_t>(i + 1));
    EXPECT_EQ(seen[i].total, 3);
    ASSERT_TRUE(seen[i].metrics.count("train_loss"));
    EXPECT_TRUE(std::isfinite(seen[i].metrics.at("train_loss")));
    EXPECT_DOUBLE_EQ(seen[i].metrics.at("train_loss"), run.epochs[i].train_loss);
  }
  EXPECT_EQ(run.training.epochs_run, 3);
  EXPECT_EQ(count_lines(run.metrics_csv), 1 + 3);  // header + one row per epoch
  // Without a seed option, the config's seed is the run's.
  EXPECT_EQ(run.seed, 7u);
  EXPECT_EQ(run.model->spec()["provenance"]["seed"].get<uint64_t>(), 7u);
  for (const auto& f : {run.model_path, run.eval_csv, run.eval_json}) EXPECT_TRUE(fs::exists(f)) << f;
  EXPECT_EQ(run.family, "v1");

  // The saved model evaluated on the same data gives the training run's evaluation.
  fovea::api::EvaluateOptions eo;
  eo.model = run.model_path;
  eo.data.dir = dir_->file("data");
  eo.output = "";
  const auto ev = fovea::api::evaluate(eo);
  EXPECT_TRUE(ev.csv.empty());
  EXPECT_EQ(ev.family, "v1");
  EXPECT_DOUBLE_EQ(ev.threshold, 0.15);
  const double feve = ev.report.summary["mean"]["feve"].get<double>();
  EXPECT_NEAR(feve, run.evaluation.summary["mean"]["feve"].get<double>(), 1e-9);
  EXPECT_EQ(ev.report.table.size(0), 6);

  // A threshold given to evaluate changes who is included, and the model's
  // recorded threshold is left as it was.
  eo.threshold = 2.0;  // FEV never exceeds 1: nobody is included
  const auto none = fovea::api::evaluate(*run.model, eo);
  EXPECT_EQ(none.report.summary["n_included"].get<int64_t>(), 0);
  EXPECT_DOUBLE_EQ(run.model->spec()["data"]["fev_threshold"].get<double>(), 0.15);

  // predict in memory: one row per image, one column per neuron.
  fovea::api::PredictOptions po;
  po.model = run.model_path;
  po.input = "test images";
  const auto images = torch::rand({5, 33, 65});
  const auto y = fovea::api::predict(*run.model, images, po);
  EXPECT_EQ(y.responses.sizes(), (std::vector<int64_t>{5, 6}));
  EXPECT_FALSE(y.movie);
  EXPECT_TRUE(y.output.empty());
  try {
    fovea::api::predict(*run.model, torch::rand({5, 20, 20}), po);
    FAIL() << "a wrong image size was accepted";
  } catch (const fovea::Error& e) {
    EXPECT_NE(std::string(e.what()).find("test images: stimuli have shape (5, 1, 20, 20)"), std::string::npos) << e.what();
  }
}

TEST_F(ApiV1, TheSeedOptionOverridesTheConfigs) {
  auto options = tiny_run("seeded");
  options.seed = 3;
  options.overrides.push_back("training.period_epochs=[1]");
  const auto run = fovea::api::train(options);
  EXPECT_EQ(run.seed, 3u);
  EXPECT_EQ(run.model->spec()["provenance"]["seed"].get<uint64_t>(), 3u);
  EXPECT_EQ(run.epochs.size(), 1u);
}

TEST_F(ApiV1, BadOptionsAreErrorsThatNameThem) {
  // An unknown config key: rejected before anything is written.
  auto options = tiny_run("rejected");
  options.overrides.push_back("training.lrr=0.1");
  try {
    fovea::api::train(options);
    FAIL() << "an unknown key was accepted";
  } catch (const fovea::Error& e) {
    EXPECT_NE(std::string(e.what()).find("lrr"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(dir_->file("rejected")));

  fovea::api::SimulateV1Options sim;
  sim.dir = dir_->file("no_neurons");
  sim.n_neurons = 0;
  EXPECT_THROW(fovea::api::simulate_v1(sim), fovea::Error);

  fovea::api::PredictOptions po;
  po.model = dir_->file("missing.safetensors");
  po.batch_size = 0;
  EXPECT_THROW(fovea::api::predict(po), fovea::api::OptionError);

  fovea::api::EvaluateOptions eo;
  eo.model = "unused";
  EXPECT_THROW(fovea::api::check_device("tpu"), fovea::api::OptionError);
  eo.device = "tpu";
  EXPECT_THROW(fovea::api::evaluate(eo), fovea::api::OptionError);
}

}  // namespace
