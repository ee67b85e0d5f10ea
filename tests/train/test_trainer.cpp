// The generic trainer's schedule, early stopping, best-state restore, metrics
// CSV and divergence handling, on small tasks with known answers.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <limits>
#include <set>

#include "fovea/error.h"
#include "fovea/train/config.h"
#include "fovea/train/trainer.h"
#include "test_util.h"

namespace {

// y = x·w + noise, scored by −MSE on held-out data.
class LinearTask : public fovea::train::TrainingTask {
 public:
  explicit LinearTask(torch::nn::Linear model, double nan_after_steps = -1) : model_(model), nan_after_(nan_after_steps) {
    torch::manual_seed(0);
    w_ = torch::randn({5, 1});
    x_ = torch::randn({200, 5});
    y_ = x_.mm(w_) + 0.01 * torch::randn({200, 1});
    xv_ = torch::randn({50, 5});
    yv_ = xv_.mm(w_);
  }
  std::vector<fovea::train::BatchRef> epoch_batches(int64_t epoch) override {
    std::vector<fovea::train::BatchRef> b;
    auto perm = torch::randperm(200, torch::kInt64);
    for (int64_t s = 0; s < 200; s += 50) b.push_back({"", perm.narrow(0, s, 50)});
    return b;
  }
  at::Tensor batch_loss(const fovea::train::BatchRef& b) override {
    ++steps_;
    auto loss = (model_->forward(x_.index_select(0, b.indices)) - y_.index_select(0, b.indices)).pow(2).mean();
    if (nan_after_ >= 0 && steps_ > nan_after_) return loss * std::nan("");
    return loss;
  }
  double validation_score() override {
    torch::NoGradGuard g;
    return -(model_->forward(xv_) - yv_).pow(2).mean().item<double>();
  }
  std::vector<torch::optim::OptimizerParamGroup> param_groups() override {
    std::vector<torch::optim::OptimizerParamGroup> g;
    g.emplace_back(model_->parameters(), std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions().weight_decay(0)));
    return g;
  }
  torch::nn::Linear model_;
  double nan_after_;
  int64_t steps_ = 0;
  at::Tensor w_, x_, y_, xv_, yv_;
};

TEST(Trainer, FitsAndRestoresTheBestStateAndWritesOneCsvRowPerEpoch) {
  fovea::test::TempDir dir;
  torch::manual_seed(1);
  torch::nn::Linear model(5, 1);
  LinearTask task(model);
  const double before = task.validation_score();
  fovea::train::TrainerOptions o;
  o.period_epochs = {20, 5};
  o.lr = 0.05;
  o.patience = 0;
  o.metrics_csv = dir.file("metrics.csv");
  o.show_progress = false;
  auto r = fovea::train::fit(*model, task, o);
  EXPECT_EQ(r.epochs_run, 25);
  EXPECT_GT(r.best_score, before);
  EXPECT_GT(r.best_score, -0.01);
  // The model holds the best state at the end.
  EXPECT_NEAR(task.validation_score(), r.best_score, 1e-9);
  std::ifstream in(o.metrics_csv);
  std::string line;
  int rows = 0;
  std::getline(in, line);
  EXPECT_EQ(line.rfind("epoch,period,lr,train_loss,val_score", 0), 0u) << line;
  while (std::getline(in, line)) ++rows;
  EXPECT_EQ(rows, 25);
}

TEST(Trainer, EarlyStoppingEndsEachPeriodAfterPatienceEpochs) {
  torch::manual_seed(1);
  torch::nn::Linear model(5, 1);
  LinearTask task(model);
  fovea::train::TrainerOptions o;
  o.period_epochs = {200, 200};
  o.lr = 0.5;  // large steps: the score soon stops improving
  o.patience = 3;
  o.min_delta = 1e-3;
  o.show_progress = false;
  auto r = fovea::train::fit(*model, task, o);
  EXPECT_LT(r.epochs_run, 400);
  EXPECT_GE(r.epochs_run, 2 * 3);
}

TEST(Trainer, NanLossBeforeAnyEpochIsAClearError) {
  torch::nn::Linear model(5, 1);
  LinearTask task(model, /*nan_after_steps=*/0);
  fovea::train::TrainerOptions o;
  o.period_epochs = {3};
  o.show_progress = false;
  try {
    fovea::train::fit(*model, task, o);
    FAIL() << "expected an error";
  } catch (const fovea::Error& e) {
    EXPECT_NE(std::string(e.what()).find("NaN"), std::string::npos) << e.what();
  }
}

TEST(Trainer, NanLossLaterKeepsTheBestStateAndSaysWhy) {
  torch::manual_seed(2);
  torch::nn::Linear model(5, 1);
  LinearTask task(model, /*nan_after_steps=*/4 * 5);  // 4 batches per epoch: NaN in epoch 6
  fovea::train::TrainerOptions o;
  o.period_epochs = {50};
  o.lr = 0.05;
  o.show_progress = false;
  auto r = fovea::train::fit(*model, task, o);
  EXPECT_EQ(r.epochs_run, 5);
  EXPECT_NE(r.stop_reason.find("NaN at epoch 6"), std::string::npos) << r.stop_reason;
  EXPECT_NEAR(task.validation_score(), r.best_score, 1e-9);
}

TEST(Trainer, PlateauScheduleReducesTheLearningRateDownToItsFloor) {
  fovea::test::TempDir dir;
  torch::manual_seed(1);
  torch::nn::Linear model(5, 1);
  LinearTask task(model);
  fovea::train::TrainerOptions o;
  o.lr_schedule = "plateau";
  o.max_epochs = 40;
  o.lr = 0.5;  // too large: the score soon stalls and the rate must come down
  o.plateau_patience = 1;
  o.plateau_threshold = 1e-3;
  o.min_lr = 0.5 * 0.3 * 0.3;
  o.patience = 0;
  o.metrics_csv = dir.file("m.csv");
  o.show_progress = false;
  auto r = fovea::train::fit(*model, task, o);
  EXPECT_EQ(r.epochs_run, 40);
  std::ifstream in(o.metrics_csv);
  std::string line;
  std::getline(in, line);
  std::set<double> rates;
  while (std::getline(in, line)) rates.insert(std::stod(line.substr(line.find(',', line.find(',') + 1) + 1)));
  EXPECT_GE(rates.size(), 2u);
  EXPECT_NEAR(*rates.rbegin(), 0.5, 1e-9);
  EXPECT_GE(*rates.begin(), o.min_lr - 1e-9);
  o.lr_schedule = "cosine";
  EXPECT_THROW(fovea::train::fit(*model, task, o), fovea::Error);
}

// A task whose validation score is never finite (a diverging or degenerate model).
class NoFiniteScoreTask : public LinearTask {
 public:
  using LinearTask::LinearTask;
  double validation_score() override { return -std::numeric_limits<double>::infinity(); }
};

TEST(Trainer, ReportsThatNoValidationScoreWasFiniteInsteadOfASentinel) {
  fovea::test::TempDir dir;
  torch::nn::Linear model(5, 1);
  NoFiniteScoreTask task(model);
  fovea::train::TrainerOptions o;
  o.period_epochs = {3};
  o.patience = 0;
  o.metrics_csv = dir.file("metrics.csv");
  o.show_progress = false;
  auto r = fovea::train::fit(*model, task, o);
  EXPECT_EQ(r.epochs_run, 3);
  EXPECT_FALSE(r.has_best());
  EXPECT_TRUE(std::isnan(r.best_score));
  EXPECT_NE(r.stop_reason.find("no finite validation score (val_score was nan or inf in every epoch)"), std::string::npos)
      << r.stop_reason;
  std::ifstream in(o.metrics_csv);
  const std::string csv{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  EXPECT_NE(csv.find(",-inf,nan,"), std::string::npos) << csv;
  EXPECT_EQ(csv.find("e+"), std::string::npos) << csv;
  EXPECT_EQ(fovea::train::score_text(-std::numeric_limits<double>::infinity()), "-inf");
  EXPECT_EQ(fovea::train::score_text(std::nan("")), "nan");
  EXPECT_EQ(fovea::train::score_text(0.12345), "0.1235");
}

TEST(Config, OverridesSetNestedValuesWithYamlTypes) {
  auto c = fovea::train::parse_yaml("training:\n  lr: 0.001\n  period_epochs: [100, 30]\n", "c.yaml");
  fovea::train::apply_override(c, "training.period_epochs=[3,2]");
  fovea::train::apply_override(c, "data.downsample=2");
  fovea::train::apply_override(c, "model.core.activation=relu");
  EXPECT_EQ(c["training"]["period_epochs"], (nlohmann::json{3, 2}));
  EXPECT_EQ(c["data"]["downsample"], 2);
  EXPECT_EQ(c["model"]["core"]["activation"], "relu");
  EXPECT_DOUBLE_EQ(c["training"]["lr"].get<double>(), 0.001);
  EXPECT_THROW(fovea::train::apply_override(c, "novalue"), fovea::Error);
  EXPECT_THROW(fovea::train::parse_yaml("a: [1, 2", "bad.yaml"), fovea::Error);
}

}  // namespace
