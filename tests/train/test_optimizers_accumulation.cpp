// The trainer's optimisers (AdamW, SGD) and gradient accumulation
// (Lightning's accumulate_grad_batches), and PyTorch schedulers driven by fit().
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include "fovea/error.h"
#include "fovea/train/trainer.h"
#include "test_util.h"

namespace {

// A linear model with a mean-squared-error loss (a mean over the batch) on
// fixed data; epoch_batches gives the rows in order, `batch` at a time.
class MeanLossTask : public fovea::train::TrainingTask {
 public:
  MeanLossTask(torch::nn::Linear model, int64_t rows, int64_t batch, std::vector<double> weight_decays = {0.0})
      : model_(model), batch_(batch), decays_(std::move(weight_decays)) {
    torch::manual_seed(7);
    x_ = torch::randn({rows, 4});
    y_ = x_.mm(torch::randn({4, 2})) + 0.3;
  }
  std::vector<fovea::train::BatchRef> epoch_batches(int64_t) override {
    std::vector<fovea::train::BatchRef> b;
    for (int64_t s = 0; s < x_.size(0); s += batch_) b.push_back({"", torch::arange(s, std::min(s + batch_, x_.size(0)))});
    return b;
  }
  at::Tensor batch_loss(const fovea::train::BatchRef& b) override {
    return (model_->forward(x_.index_select(0, b.indices)) - y_.index_select(0, b.indices)).pow(2).mean();
  }
  double validation_score() override {
    torch::NoGradGuard g;
    return -(model_->forward(x_) - y_).pow(2).mean().item<double>();
  }
  // One group per weight decay: the weight first, then the bias.
  std::vector<torch::optim::OptimizerParamGroup> param_groups() override {
    std::vector<torch::optim::OptimizerParamGroup> g;
    auto opts = [](double wd) { return std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions().weight_decay(wd)); };
    if (decays_.size() == 1) g.emplace_back(model_->parameters(), opts(decays_[0]));
    else {
      g.emplace_back(std::vector<at::Tensor>{model_->weight}, opts(decays_[0]));
      g.emplace_back(std::vector<at::Tensor>{model_->bias}, opts(decays_[1]));
    }
    return g;
  }
  void after_step() override { ++steps; }
  int64_t steps = 0;
  torch::nn::Linear model_;
  int64_t batch_;
  std::vector<double> decays_;
  at::Tensor x_, y_;
};

torch::nn::Linear fresh_model() {
  torch::manual_seed(11);
  return torch::nn::Linear(4, 2);
}

fovea::train::TrainerOptions quiet() {
  fovea::train::TrainerOptions o;
  o.show_progress = false;
  return o;
}

at::Tensor flat_parameters(torch::nn::Module& m) {
  std::vector<at::Tensor> p;
  for (auto& t : m.parameters()) p.push_back(t.detach().reshape({-1}).clone());
  return torch::cat(p);
}


TEST(Optimizers, SgdStepsEqualTorchOptimSgdWithEachGroupsWeightDecay) {
  auto a = fresh_model();
  MeanLossTask task(a, 24, 8, {0.05, 0.0});
  auto o = quiet();
  o.optimizer = "sgd";
  o.momentum = 0.9;
  o.nesterov = true;
  auto ours = fovea::train::make_optimizer(task, 0.1, o);
  for (int e = 0; e < 3; ++e) fovea::train::train_one_epoch(*a, task, *ours, e, o);

  auto b = fresh_model();
  MeanLossTask reference(b, 24, 8);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  auto sgd = [](double wd) { return torch::optim::SGDOptions(0.1).momentum(0.9).nesterov(true).weight_decay(wd); };
  groups.emplace_back(std::vector<at::Tensor>{b->weight}, std::make_unique<torch::optim::SGDOptions>(sgd(0.05)));
  groups.emplace_back(std::vector<at::Tensor>{b->bias}, std::make_unique<torch::optim::SGDOptions>(sgd(0.0)));
  torch::optim::SGD theirs(groups, sgd(0.0));
  for (int e = 0; e < 3; ++e)
    for (auto& batch : reference.epoch_batches(e)) {
      theirs.zero_grad();
      reference.batch_loss(batch).backward();
      theirs.step();
    }
  EXPECT_TRUE(torch::equal(flat_parameters(*a), flat_parameters(*b)));
  EXPECT_FALSE(torch::equal(flat_parameters(*a), flat_parameters(*fresh_model())));  // it did train
}

TEST(Optimizers, AdamWStepsEqualTorchOptimAdamW) {
  auto a = fresh_model();
  MeanLossTask task(a, 24, 8, {0.01, 0.2});
  auto o = quiet();
  o.adam_beta1 = 0.8;
  o.adam_eps = 1e-6;
  auto ours = fovea::train::make_optimizer(task, 0.05, o);
  for (int e = 0; e < 3; ++e) fovea::train::train_one_epoch(*a, task, *ours, e, o);

  auto b = fresh_model();
  MeanLossTask reference(b, 24, 8);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  auto adamw = [](double wd) { return torch::optim::AdamWOptions(0.05).betas({0.8, 0.999}).eps(1e-6).weight_decay(wd); };
  groups.emplace_back(std::vector<at::Tensor>{b->weight}, std::make_unique<torch::optim::AdamWOptions>(adamw(0.01)));
  groups.emplace_back(std::vector<at::Tensor>{b->bias}, std::make_unique<torch::optim::AdamWOptions>(adamw(0.2)));
  torch::optim::AdamW theirs(groups, adamw(0.0));
  for (int e = 0; e < 3; ++e)
    for (auto& batch : reference.epoch_batches(e)) {
      theirs.zero_grad();
      reference.batch_loss(batch).backward();
      theirs.step();
    }
  EXPECT_TRUE(torch::equal(flat_parameters(*a), flat_parameters(*b)));
}

TEST(Optimizers, UnknownOptimizerAndNesterovWithoutMomentumAreErrors) {
  auto a = fresh_model();
  MeanLossTask task(a, 24, 8);
  auto o = quiet();
  o.optimizer = "adam";
  EXPECT_THROW(fovea::train::make_optimizer(task, 0.1, o), fovea::Error);
  o.optimizer = "sgd";
  o.nesterov = true;
  o.momentum = 0.0;
  EXPECT_THROW(fovea::train::make_optimizer(task, 0.1, o), fovea::Error);
}

// With a loss that is a mean over the batch, k batches of B rows with their
// gradients accumulated (each loss divided by k) give the gradient of the mean
// over the k·B rows, so one optimiser step over them lands on the parameters
// that one batch of k·B rows gives. Compared: the parameters after one epoch
// of 4 batches of 6 rows with accumulate_grad_batches 4 (one SGD step) and
// after one epoch of one batch of 24 rows (one SGD step), to float32 rounding.
TEST(GradientAccumulation, KBatchesEqualOneBatchOfKTimesTheSizeForAMeanLoss) {
  auto a = fresh_model();
  MeanLossTask small(a, 24, 6);
  auto o = quiet();
  o.optimizer = "sgd";
  o.momentum = 0.0;
  o.accumulate_grad_batches = 4;
  auto opt_a = fovea::train::make_optimizer(small, 0.1, o);
  fovea::train::train_one_epoch(*a, small, *opt_a, 0, o);
  EXPECT_EQ(small.steps, 1);

  auto b = fresh_model();
  MeanLossTask big(b, 24, 24);
  o.accumulate_grad_batches = 1;
  auto opt_b = fovea::train::make_optimizer(big, 0.1, o);
  fovea::train::train_one_epoch(*b, big, *opt_b, 0, o);
  EXPECT_EQ(big.steps, 1);

  const auto pa = flat_parameters(*a), pb = flat_parameters(*b), p0 = flat_parameters(*fresh_model());
  EXPECT_TRUE(torch::allclose(pa, pb, 1e-6, 1e-6)) << (pa - pb).abs().max().item<double>();
  EXPECT_GT((pa - p0).abs().max().item<double>(), 1e-3);  // the step moved the parameters
  // Without accumulation the same 4 small batches take 4 steps and land elsewhere.
  auto c = fresh_model();
  MeanLossTask four(c, 24, 6);
  auto opt_c = fovea::train::make_optimizer(four, 0.1, o);
  fovea::train::train_one_epoch(*c, four, *opt_c, 0, o);
  EXPECT_EQ(four.steps, 4);
  EXPECT_GT((flat_parameters(*c) - pb).abs().max().item<double>(), 1e-4);
}

TEST(GradientAccumulation, ThePartialLastGroupOfAnEpochStillSteps) {
  auto a = fresh_model();
  MeanLossTask task(a, 30, 6);  // 5 batches
  auto o = quiet();
  o.accumulate_grad_batches = 2;
  auto opt = fovea::train::make_optimizer(task, 0.01, o);
  fovea::train::LrSchedulerOptions so;
  so.name = "exponential";
  so.gamma = 0.5;
  so.interval = "step";
  fovea::train::LrScheduler scheduler(*opt, so);
  fovea::train::train_one_epoch(*a, task, *opt, 0, o, "", &scheduler);
  EXPECT_EQ(task.steps, 3);                   // batches 1-2, 3-4, 5
  EXPECT_EQ(scheduler.last_epoch(), 3);       // one scheduler step per optimiser step
  EXPECT_DOUBLE_EQ(scheduler.lr(), 0.01 * 0.125);
}

// Reads the lr column (the rate each epoch started with) of a metrics CSV.
std::vector<double> csv_rates(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  std::vector<double> rates;
  while (std::getline(in, line)) {
    const auto c1 = line.find(','), c2 = line.find(',', c1 + 1);
    rates.push_back(std::stod(line.substr(c2 + 1)));
  }
  return rates;
}

TEST(TrainerSchedules, EpochSchedulersStepAfterEachEpoch) {
  fovea::test::TempDir dir;
  auto a = fresh_model();
  MeanLossTask task(a, 24, 8);
  auto o = quiet();
  o.lr = 0.1;
  o.lr_schedule = "exponential";
  o.lr_scheduler.gamma = 0.7;
  o.max_epochs = 6;
  o.patience = 0;
  o.metrics_csv = dir.file("m.csv");
  auto r = fovea::train::fit(*a, task, o);
  EXPECT_EQ(r.epochs_run, 6);
  const auto rates = csv_rates(o.metrics_csv);
  ASSERT_EQ(rates.size(), 6u);
  for (size_t e = 0; e < rates.size(); ++e) EXPECT_NEAR(rates[e], 0.1 * std::pow(0.7, e), 1e-7) << "epoch " << e + 1;
}

// OneCycleLR per optimiser step with total_steps left to the trainer:
// max_epochs × ceil(batches / accumulate) = 5 × 2 = 10 steps, so the run ends
// without PyTorch's "stepped past total_steps" error and epoch 3 starts at
// step 4, in the annealing phase (phase 1 ends at step 0.3·10 − 1 = 2).
TEST(TrainerSchedules, OneCycleStepsPerOptimiserStepOverTheWholeRun) {
  fovea::test::TempDir dir;
  auto a = fresh_model();
  MeanLossTask task(a, 24, 6);  // 4 batches
  auto o = quiet();
  o.lr = 0.2;
  o.lr_schedule = "one_cycle";
  o.lr_scheduler.interval = "step";
  o.accumulate_grad_batches = 2;
  o.max_epochs = 5;
  o.patience = 0;
  o.metrics_csv = dir.file("m.csv");
  auto r = fovea::train::fit(*a, task, o);
  EXPECT_EQ(r.epochs_run, 5);
  const auto rates = csv_rates(o.metrics_csv);
  ASSERT_EQ(rates.size(), 5u);
  const double initial = 0.2 / 25, min_lr = initial / 1e4, pi = std::acos(-1.0);
  EXPECT_NEAR(rates[0], initial, 1e-9);
  EXPECT_NEAR(rates[2], min_lr + (0.2 - min_lr) / 2 * (std::cos(pi * 2.0 / 7.0) + 1), 1e-6);  // the CSV keeps 6 digits
}

}  // namespace
