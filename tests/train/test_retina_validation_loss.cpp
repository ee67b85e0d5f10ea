// training.validation_score: poisson_loss, openretina's Poisson validation
// loss (its Goldin 2022 config's monitor, mode min): the value against an
// independent computation, the trainer following the lowest loss (best state,
// early stopping, plateau), and the config's checks.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include "fovea/error.h"
#include "fovea/nn/model.h"
#include "fovea/train/config.h"
#include "fovea/train/config_check.h"
#include "fovea/train/retina_task.h"
#include "small_retina_model.h"
#include "fovea/train/trainer.h"
#include "test_util.h"

namespace {

using fovea::train::Json;

using fovea::test::small_retina_model;

// Positive rates driven by the movie's centre two frames earlier, as spike-count-like targets.
fovea::data::SessionClips session(int64_t frames, int64_t neurons, int64_t val_clips, int64_t seed) {
  torch::manual_seed(seed);
  at::Tensor movie = torch::randn({1, frames, 8, 8});
  at::Tensor drive = movie.slice(2, 2, 6).slice(3, 2, 6).mean({0, 2, 3});
  at::Tensor lagged = torch::cat({torch::zeros({2}), drive.narrow(0, 0, frames - 2)});
  at::Tensor rates = torch::nn::functional::softplus(3.0 * lagged).view({1, frames}).repeat({neurons, 1});
  rates = rates * (1.0 + torch::arange(neurons).to(torch::kFloat32).view({neurons, 1}));
  fovea::data::ClipSplitOptions o;
  o.clip_length = 40;
  o.num_val_clips = val_clips;
  return fovea::data::split_session(movie, rates, o, "s" + std::to_string(seed));
}

const std::string kConfigs = std::string(FOVEA_SOURCE_DIR) + "/configs/";

}  // namespace

// openretina (models/core_readout.py): val_evaluation_loss = PoissonLoss3d(avg=True)
// per validation batch, o − y·log(o + 1e-16) averaged over (B, T_out, N) with
// y = target[:, lag:], then Lightning's epoch mean over all batches weighted by
// batch size. Computed here clip by clip in float64: Σ_clips mean_clip / clips.
TEST(RetinaValidationLoss, IsOpenretinasBatchWeightedMeanPoissonLoss) {
  // Session a: 3 validation clips in batches of 2 and 1; b: 2 clips, other neurons.
  std::map<std::string, fovea::data::SessionClips> sessions{{"a", session(40 * 8, 3, 3, 1)},
                                                            {"b", session(40 * 6, 2, 2, 2)}};
  auto model = small_retina_model({{"a", 3}, {"b", 2}});
  fovea::train::RetinaRecipe recipe;
  recipe.batch_size = 2;
  recipe.chunk_size = 20;
  recipe.validation_score = "poisson_loss";
  fovea::train::RetinaTask task(model, sessions, recipe, torch::kCPU);
  EXPECT_EQ(task.score_name(), "val_poisson_loss");
  EXPECT_FALSE(task.higher_is_better());
  model->eval();
  const double score = task.validation_score();

  torch::NoGradGuard no_grad;
  double sum_of_clip_means = 0;
  int64_t clips = 0;
  for (const auto& [key, s] : sessions) {
    ASSERT_EQ(s.val_movie.size(1), 40 * static_cast<int64_t>(s.val_clip_indices.size()));
    for (size_t c = 0; c < s.val_clip_indices.size(); ++c) {
      const int64_t start = static_cast<int64_t>(c) * 40;
      at::Tensor o = model->forward(s.val_movie.narrow(1, start, 40).unsqueeze(0), key).squeeze(0).to(torch::kFloat64);
      ASSERT_EQ(o.size(0), 32) << "temporal kernel 9: lag 8";
      at::Tensor y = s.val_responses.narrow(0, start + 8, 32).to(torch::kFloat64);
      ASSERT_GT(y.max().item<double>(), 0.5);
      double clip_sum = 0;
      for (int64_t t = 0; t < 32; ++t)
        for (int64_t n = 0; n < o.size(1); ++n) {
          const double on = o[t][n].item<double>(), yn = y[t][n].item<double>();
          clip_sum += on - yn * std::log(on + 1e-16);
        }
      sum_of_clip_means += clip_sum / (32.0 * static_cast<double>(o.size(1)));
      ++clips;
    }
  }
  ASSERT_EQ(clips, 5);
  const double expected = sum_of_clip_means / 5.0;
  EXPECT_NEAR(score, expected, 1e-5 * std::abs(expected));
  // The default stays openretina's mean correlation.
  fovea::train::RetinaTask correlation(model, sessions, fovea::train::RetinaRecipe{}, torch::kCPU);
  EXPECT_EQ(correlation.score_name(), "val_correlation");
  EXPECT_TRUE(correlation.higher_is_better());
}

namespace {

// A task whose validation loss follows a script; its one weight moves every
// epoch, so the restored state shows which epoch was kept.
class ScriptedLossTask : public fovea::train::TrainingTask {
 public:
  ScriptedLossTask(torch::nn::Linear model, std::vector<double> losses) : model_(model), losses_(std::move(losses)) {}
  std::vector<fovea::train::BatchRef> epoch_batches(int64_t) override { return {{"", torch::zeros({1}, torch::kInt64)}}; }
  at::Tensor batch_loss(const fovea::train::BatchRef&) override {
    return (model_->forward(torch::ones({1, 1})) - 100.0).pow(2).sum();
  }
  double validation_score() override {
    weights_.push_back(model_->weight.item<double>());
    return losses_.at(weights_.size() - 1);
  }
  std::string score_name() const override { return "val_scripted_loss"; }
  bool higher_is_better() const override { return false; }
  std::vector<torch::optim::OptimizerParamGroup> param_groups() override {
    std::vector<torch::optim::OptimizerParamGroup> g;
    g.emplace_back(model_->parameters(),
                   std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions().weight_decay(0)));
    return g;
  }
  torch::nn::Linear model_;
  std::vector<double> losses_;
  std::vector<double> weights_;  // the weight at each validation
};

}  // namespace

// Lightning's EarlyStopping/ModelCheckpoint with mode "min": the best state is
// the lowest loss; patience counts epochs whose loss did not fall by min_delta.
TEST(RetinaValidationLoss, TrainerKeepsTheLowestLossAndStopsWhenItStopsFalling) {
  fovea::test::TempDir dir;
  torch::manual_seed(0);
  torch::nn::Linear model(1, 1);
  // Epoch 5 is the lowest (kept) but falls by less than min_delta from epoch 3,
  // so epochs 4, 5, 6 count against patience 3: the run stops after epoch 6.
  ScriptedLossTask task(model, {5.0, 3.0, 2.0, 2.00005, 1.99995, 2.5, 0.1, 0.1});
  fovea::train::TrainerOptions o;
  o.lr_schedule = "plateau";
  o.max_epochs = 8;
  o.lr = 0.1;
  o.patience = 3;
  o.min_delta = 1e-3;
  o.plateau_patience = 100;
  o.metrics_csv = dir.file("metrics.csv");
  o.show_progress = false;
  const auto r = fovea::train::fit(*model, task, o);
  EXPECT_EQ(r.epochs_run, 6);
  EXPECT_EQ(r.best_epoch, 4);
  EXPECT_DOUBLE_EQ(r.best_score, 1.99995);
  ASSERT_EQ(task.weights_.size(), 6u);
  EXPECT_NE(task.weights_[4], task.weights_[5]);
  EXPECT_DOUBLE_EQ(model->weight.item<double>(), task.weights_[4]);
  // The CSV holds the loss itself and the lowest so far.
  std::ifstream in(o.metrics_csv);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "epoch,period,lr,train_loss,val_scripted_loss,best_val_scripted_loss,seconds");
  std::vector<std::string> rows;
  while (std::getline(in, line)) rows.push_back(line);
  ASSERT_EQ(rows.size(), 6u);
  EXPECT_NE(rows[1].find(",3,3,"), std::string::npos) << rows[1];
  EXPECT_NE(rows[5].find(",2.5,1.99995,"), std::string::npos) << rows[5];
}

// ReduceLROnPlateau with mode "min", threshold_mode "abs": an epoch improves
// when loss < best − threshold; the rate drops after more than `patience` bad epochs.
TEST(RetinaValidationLoss, PlateauSchedulerWaitsForTheLossToFall) {
  torch::manual_seed(0);
  torch::nn::Linear model(1, 1);
  // 1.0 best; 0.95 bad (not < 0.9); 0.5 best; 0.45 bad; 0.44 bad → reduce after epoch 5.
  ScriptedLossTask task(model, {1.0, 0.95, 0.5, 0.45, 0.44, 0.43});
  fovea::train::TrainerOptions o;
  o.lr_schedule = "plateau";
  o.max_epochs = 6;
  o.lr = 0.1;
  o.patience = 0;
  o.plateau_patience = 1;
  o.plateau_threshold = 0.1;
  o.plateau_factor = 0.5;
  o.min_lr = 0.0;
  o.show_progress = false;
  std::vector<double> lrs;
  o.on_epoch = [&](const fovea::train::EpochRecord& e) {
    lrs.push_back(e.lr);
    EXPECT_EQ(e.score_name, "val_scripted_loss");
  };
  fovea::train::fit(*model, task, o);
  EXPECT_EQ(lrs, (std::vector<double>{0.1, 0.1, 0.1, 0.1, 0.1, 0.05}));
}

// A short fit on the Poisson score: the model ends at the epoch with the lowest loss.
TEST(RetinaValidationLoss, RetinaFitRestoresTheLowestLossState) {
  fovea::test::TempDir dir;
  std::map<std::string, fovea::data::SessionClips> sessions{{"a", session(40 * 8, 3, 2, 1)}};
  auto model = small_retina_model({{"a", 3}});
  fovea::train::RetinaRecipe recipe;
  recipe.batch_size = 4;
  recipe.chunk_size = 20;
  recipe.validation_score = "poisson_loss";
  fovea::train::RetinaTask task(model, sessions, recipe, torch::kCPU);
  model->eval();
  const double before = task.validation_score();
  fovea::train::TrainerOptions o;
  o.lr_schedule = "plateau";
  o.lr = 0.01;
  o.max_epochs = 5;
  o.patience = 0;
  o.metrics_csv = dir.file("metrics.csv");
  o.show_progress = false;
  const auto r = fovea::train::fit(*model, task, o);
  EXPECT_LT(r.best_score, before);
  std::ifstream in(o.metrics_csv);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "epoch,period,lr,train_loss,val_poisson_loss,best_val_poisson_loss,seconds");
  double lowest = 1e300;
  while (std::getline(in, line)) {
    std::stringstream row(line);
    std::string field;
    for (int i = 0; i < 5; ++i) std::getline(row, field, ',');
    lowest = std::min(lowest, std::stod(field));
  }
  EXPECT_NEAR(r.best_score, lowest, 1e-7 * lowest) << "the CSV keeps 8 significant digits";
  model->eval();
  EXPECT_DOUBLE_EQ(task.validation_score(), r.best_score);
}

TEST(RetinaValidationLoss, GoldinPresetMonitorsThePoissonLossAndUnknownScoresAreNamed) {
  Json goldin = fovea::train::load_config(kConfigs + "retina_goldin_2022.yaml");
  EXPECT_EQ(goldin["training"]["validation_score"], "poisson_loss");
  goldin["data"]["dir"] = "goldin_folder";  // the preset leaves it to the user
  EXPECT_NO_THROW(fovea::train::validate_config(goldin, "retina_goldin_2022.yaml"));
  goldin["training"]["validation_score"] = "pearson";
  const std::string e = fovea::test::error_of([&] { fovea::train::validate_config(goldin, "goldin.yaml"); });
  EXPECT_NE(e.find("validation_score"), std::string::npos) << e;
  EXPECT_NE(e.find("pearson"), std::string::npos) << e;
  EXPECT_EQ(e.find('\n'), std::string::npos) << e;
  // The library checks too (callers that build the recipe themselves).
  std::map<std::string, fovea::data::SessionClips> sessions{{"a", session(40 * 6, 2, 2, 1)}};
  fovea::train::RetinaRecipe recipe;
  recipe.validation_score = "val_loss";
  const std::string t = fovea::test::error_of(
      [&] { fovea::train::RetinaTask(small_retina_model({{"a", 2}}), sessions, recipe, torch::kCPU); });
  EXPECT_NE(t.find("training option 'validation_score'"), std::string::npos) << t;
  EXPECT_NE(t.find("val_loss"), std::string::npos) << t;
}
