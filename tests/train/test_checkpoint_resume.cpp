// Runs that survive a kill (issue 18): fit() writes a checkpoint after every
// epoch, and a run continued from it ends bit for bit where an uninterrupted
// run ends — parameters, buffers, result and metrics CSV — under every
// schedule the trainer runs. The "kill" here is an exception thrown from the
// epoch callback, which fires after the CSV row is written and before the
// checkpoint is: the worst moment (the CLI test kills a real process).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <functional>
#include <iterator>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "fovea/error.h"
#include "fovea/io/atomic_file.h"
#include "fovea/train/trainer.h"
#include "test_util.h"

namespace {

using fovea::train::TrainerOptions;

struct Killed {};

// A small regression with dropout (the global generator), BatchNorm (buffers)
// and two heads, one per "session" as the retina's readouts: each batch
// trains one head, and the other's gradient stays zero — which the optimiser
// still applies (momentum, weight decay) once the gradient exists. Batches
// come from the global generator too.
struct Net : torch::nn::Module {
  Net() {
    l1 = register_module("l1", torch::nn::Linear(5, 8));
    bn = register_module("bn", torch::nn::BatchNorm1d(8));
    drop = register_module("drop", torch::nn::Dropout(0.2));
    l2 = register_module("l2", torch::nn::Linear(8, 1));
    l3 = register_module("l3", torch::nn::Linear(8, 1));
  }
  at::Tensor forward(const at::Tensor& x, const std::string& session = "a") {
    auto h = drop(torch::relu(bn(l1(x))));
    return session == "a" ? l2(h) : l3(h);
  }
  torch::nn::Linear l1{nullptr}, l2{nullptr}, l3{nullptr};
  torch::nn::BatchNorm1d bn{nullptr};
  torch::nn::Dropout drop{nullptr};
};

class RegressionTask : public fovea::train::TrainingTask {
 public:
  // batch: samples per batch (160 in all); kill_at > 0 throws Killed instead
  // of computing the kill_at-th loss of the run: a kill inside an epoch.
  RegressionTask(Net& net, int64_t batch = 40, int64_t kill_at = 0) : net_(net), batch_(batch), kill_at_(kill_at) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
    w_ = torch::randn({5, 1}, gen);
    x_ = torch::randn({160, 5}, gen);
    y_ = x_.mm(w_) + 0.1 * torch::randn({160, 1}, gen);
    xv_ = torch::randn({40, 5}, gen);
    yv_ = xv_.mm(w_);
  }
  std::vector<fovea::train::BatchRef> epoch_batches(int64_t) override {
    std::vector<fovea::train::BatchRef> b;
    // The global generator, on purpose: a resumed run must restore it after
    // anything that draws from it on the way (OneCycleLR counts the batches).
    auto perm = torch::randperm(160, torch::kInt64);
    for (int64_t s = 0; s < 160; s += batch_)
      b.push_back({(s / batch_) % 2 == 0 ? "a" : "b", perm.narrow(0, s, batch_)});
    return b;
  }
  at::Tensor batch_loss(const fovea::train::BatchRef& b) override {
    if (++losses == kill_at_) throw Killed{};
    return (net_.forward(x_.index_select(0, b.indices), b.data_key) - y_.index_select(0, b.indices)).pow(2).mean();
  }
  double validation_score() override {
    torch::NoGradGuard g;
    return -(net_.forward(xv_) - yv_).pow(2).mean().item<double>();
  }
  std::vector<torch::optim::OptimizerParamGroup> param_groups() override {
    std::vector<torch::optim::OptimizerParamGroup> g;
    g.emplace_back(net_.l1->parameters(), std::make_unique<torch::optim::AdamWOptions>(
                                               torch::optim::AdamWOptions().weight_decay(0.01)));
    std::vector<at::Tensor> rest = net_.bn->parameters();
    for (auto& p : net_.l2->parameters()) rest.push_back(p);
    for (auto& p : net_.l3->parameters()) rest.push_back(p);
    g.emplace_back(rest, std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions().weight_decay(0.01)));
    return g;
  }

 private:
  Net& net_;
  int64_t batch_, kill_at_;
  at::Tensor w_, x_, y_, xv_, yv_;

 public:
  int64_t losses = 0;  // batch_loss calls so far
};

struct Outcome {
  fovea::train::TrainingResult result;
  int64_t losses = 0;  // batches trained
  std::vector<std::pair<std::string, at::Tensor>> state;
  std::string csv;  // without the seconds column
};

// metrics.csv without its last column (wall-clock seconds differ between runs).
std::string csv_without_seconds(const std::string& path) {
  std::istringstream in(fovea::io::read_file(path));
  std::string line, out;
  while (std::getline(in, line)) out += line.substr(0, line.rfind(',')) + "\n";
  return out;
}

// Trains from scratch (init seed `init_seed`) in `dir`; kill_after > 0 stops
// the process-like run at that epoch's callback, kill_at_batch > 0 at that
// batch of the run (before its loss); resume continues.
Outcome train(const TrainerOptions& base, const fovea::test::TempDir& dir, int64_t kill_after, bool resume,
              uint64_t init_seed = 1, int64_t batch = 40, int64_t kill_at_batch = 0) {
  torch::manual_seed(init_seed);
  auto net = std::make_shared<Net>();
  RegressionTask task(*net, batch, kill_at_batch);
  TrainerOptions o = base;
  o.metrics_csv = dir.file("metrics.csv");
  o.checkpoint = dir.file("checkpoint.pt");
  o.resume = resume;
  o.show_progress = false;
  if (kill_after > 0)
    o.on_epoch = [kill_after](const fovea::train::EpochRecord& e) {
      if (e.epoch == kill_after) throw Killed{};
    };
  Outcome r;
  r.result = fovea::train::fit(*net, task, o);
  r.losses = task.losses;
  for (const auto& p : net->named_parameters()) r.state.emplace_back(p.key(), p.value().detach().clone());
  for (const auto& b : net->named_buffers()) r.state.emplace_back(b.key(), b.value().detach().clone());
  r.csv = csv_without_seconds(o.metrics_csv);
  return r;
}

void expect_same(const Outcome& a, const Outcome& b, const std::string& what) {
  EXPECT_EQ(a.result.epochs_run, b.result.epochs_run) << what;
  EXPECT_EQ(a.result.best_epoch, b.result.best_epoch) << what;
  EXPECT_EQ(a.result.best_score, b.result.best_score) << what;
  EXPECT_EQ(a.result.stop_reason, b.result.stop_reason) << what;
  EXPECT_EQ(a.csv, b.csv) << what;
  ASSERT_EQ(a.state.size(), b.state.size());
  for (size_t i = 0; i < a.state.size(); ++i)
    EXPECT_TRUE(torch::equal(a.state[i].second, b.state[i].second)) << what << ": " << a.state[i].first << " differs";
}

// For each kill point: kill, then resume from a model initialised differently
// (the checkpoint must supply every value), and compare with the whole run.
void check_resume(const TrainerOptions& o, const std::vector<int64_t>& kill_points, const std::string& name) {
  at::set_num_threads(1);
  fovea::test::TempDir whole_dir;
  const Outcome whole = train(o, whole_dir, 0, false);
  ASSERT_GT(whole.result.epochs_run, kill_points.back()) << name << ": the kill points must fall inside the run";
  for (int64_t k : kill_points) {
    fovea::test::TempDir dir;
    EXPECT_THROW(train(o, dir, k, false), Killed);
    const Outcome resumed = train(o, dir, 0, true, /*init_seed=*/99);
    expect_same(whole, resumed, name + ", killed at epoch " + std::to_string(k));
  }
}

TEST(CheckpointResume, MinimodelPeriodsWithEarlyStoppingAndBestRestore) {
  TrainerOptions o;
  o.period_epochs = {6, 3, 3};
  o.lr = 0.03;
  o.patience = 2;
  o.min_delta = 1e-3;
  // Killed mid-period (optimiser state restored) and right after a period's
  // last epoch (the next period starts fresh from the best state).
  check_resume(o, {2, 6, 7}, "periods");
}

TEST(CheckpointResume, PlateauScheduleKeepsTheReducedRate) {
  TrainerOptions o;
  o.lr_schedule = "plateau";
  o.max_epochs = 10;
  o.lr = 0.05;
  o.plateau_patience = 1;
  o.plateau_threshold = 0.05;  // reduces early and often
  o.patience = 0;
  o.grad_clip_norm = 1.0;
  check_resume(o, {3, 6}, "plateau");
}

TEST(CheckpointResume, OneCycleStepsWithSgdMomentumAndAccumulation) {
  TrainerOptions o;
  o.lr_schedule = "one_cycle";
  o.lr_scheduler.interval = "step";
  o.lr_scheduler.max_lr = 0.05;
  o.max_epochs = 6;
  o.optimizer = "sgd";
  o.momentum = 0.9;
  o.nesterov = true;
  o.accumulate_grad_batches = 3;
  o.patience = 0;
  check_resume(o, {2, 4}, "one_cycle + sgd");
}

TEST(CheckpointResume, CosineWarmRestartsEpochScheduler) {
  TrainerOptions o;
  o.lr_schedule = "cosine_annealing_warm_restarts";
  o.lr_scheduler.T_0 = 2;
  o.lr_scheduler.T_mult = 2;
  o.max_epochs = 7;
  o.lr = 0.02;
  o.patience = 0;
  check_resume(o, {3}, "cosine warm restarts");
}

// Checkpoints inside epochs (checkpoint_every optimiser steps): 10 batches of
// 16 per epoch. The batches a run has trained when it writes a checkpoint:
// after every epoch, and after every `every`-th optimiser step of the run
// (one per `accumulate` batches and one at each epoch's end).
std::vector<int64_t> checkpoint_positions(int64_t epochs, int64_t per_epoch, int64_t accumulate, int64_t every) {
  std::vector<int64_t> at = {0};
  int64_t steps = 0;
  for (int64_t e = 0; e < epochs; ++e)
    for (int64_t b = 1; b <= per_epoch; ++b) {
      const bool step = b % accumulate == 0 || b == per_epoch;
      if (step) ++steps;
      if (b == per_epoch || (step && steps % every == 0)) at.push_back(e * per_epoch + b);
    }
  return at;
}

// Kills the run before its k-th batch for each k (fixed ones and a random
// one), resumes, and compares with the whole run; the resumed run trains only
// the batches after the last checkpoint (so it went on inside the epoch).
void check_resume_in_epoch(TrainerOptions o, std::vector<int64_t> kill_batches, const std::string& name) {
  at::set_num_threads(1);
  constexpr int64_t kBatch = 16, kPerEpoch = 160 / kBatch;
  fovea::test::TempDir whole_dir;
  const Outcome whole = train(o, whole_dir, 0, false, 1, kBatch);
  ASSERT_EQ(whole.losses, whole.result.epochs_run * kPerEpoch);
  std::random_device rd;
  kill_batches.push_back(2 + static_cast<int64_t>(rd() % static_cast<uint64_t>(whole.losses - 2)));
  const auto positions =
      checkpoint_positions(whole.result.epochs_run, kPerEpoch, o.accumulate_grad_batches, o.checkpoint_every);
  for (int64_t k : kill_batches) {
    ASSERT_LT(k, whole.losses) << name << ": the kill must fall inside the run";
    const std::string what = name + ", killed before batch " + std::to_string(k);
    fovea::test::TempDir dir;
    EXPECT_THROW(train(o, dir, 0, false, 1, kBatch, k), Killed) << what;
    const Outcome resumed = train(o, dir, 0, true, /*init_seed=*/99, kBatch);
    expect_same(whole, resumed, what);
    const int64_t done = *std::prev(std::upper_bound(positions.begin(), positions.end(), k - 1));
    EXPECT_EQ(resumed.losses, whole.losses - done) << what << ": the last checkpoint came after batch " << done;
  }
}

TEST(CheckpointResume, InsideAnEpochPeriodsWithAccumulationAndEarlyStopping) {
  TrainerOptions o;
  o.period_epochs = {4, 3, 3};
  o.lr = 0.03;
  o.patience = 2;
  o.min_delta = 1e-3;
  o.accumulate_grad_batches = 3;  // steps after batches 3, 6, 9 and 10 of each epoch
  o.checkpoint_every = 1;
  // Mid-accumulation in epoch 1; inside the first epoch of period 2 (after
  // the best state was restored); a random batch.
  check_resume_in_epoch(o, {5, 44}, "periods + accumulation");
}

TEST(CheckpointResume, InsideAnEpochOneCycleStepSchedulerEveryOtherStep) {
  TrainerOptions o;
  o.lr_schedule = "one_cycle";
  o.lr_scheduler.interval = "step";  // stepped with the optimiser: its count is mid-cycle at the kill
  o.lr_scheduler.max_lr = 0.05;
  o.max_epochs = 5;
  o.optimizer = "sgd";
  o.momentum = 0.9;
  o.accumulate_grad_batches = 2;
  o.patience = 0;
  o.grad_clip_norm = 1.0;
  o.checkpoint_every = 2;  // counted over the run: the cadence crosses epochs
  check_resume_in_epoch(o, {9, 27}, "one_cycle + accumulation");
}

TEST(CheckpointResume, WithoutACheckpointTheRunStartsFromScratch) {
  at::set_num_threads(1);
  TrainerOptions o;
  o.period_epochs = {3};
  o.patience = 0;
  fovea::test::TempDir a, b;
  const Outcome fresh = train(o, a, 0, false);
  const Outcome resumed = train(o, b, 0, true);  // nothing to resume: same as fresh
  expect_same(fresh, resumed, "no checkpoint");
}

TEST(CheckpointResume, ACorruptCheckpointIsAnErrorNamingTheFile) {
  fovea::test::TempDir dir;
  fovea::io::write_file_atomic(dir.file("checkpoint.pt"), "not an archive");
  TrainerOptions o;
  o.period_epochs = {2};
  const std::string err = fovea::test::error_of([&] { train(o, dir, 0, true); });
  EXPECT_NE(err.find(dir.file("checkpoint.pt")), std::string::npos) << err;
  EXPECT_NE(err.find("checkpoint"), std::string::npos) << err;
}

}  // namespace
