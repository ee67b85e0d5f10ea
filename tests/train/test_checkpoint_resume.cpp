// Runs that survive a kill (issue 18): fit() writes a checkpoint after every
// epoch, and a run continued from it ends bit for bit where an uninterrupted
// run ends — parameters, buffers, result and metrics CSV — under every
// schedule the trainer runs. The "kill" here is an exception thrown from the
// epoch callback, which fires after the CSV row is written and before the
// checkpoint is: the worst moment (the CLI test kills a real process).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <functional>
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
  explicit RegressionTask(Net& net) : net_(net) {
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
    for (int64_t s = 0; s < 160; s += 40) b.push_back({s % 80 == 0 ? "a" : "b", perm.narrow(0, s, 40)});
    return b;
  }
  at::Tensor batch_loss(const fovea::train::BatchRef& b) override {
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
  at::Tensor w_, x_, y_, xv_, yv_;
};

struct Outcome {
  fovea::train::TrainingResult result;
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
// the process-like run at that epoch's callback; resume continues.
Outcome train(const TrainerOptions& base, const fovea::test::TempDir& dir, int64_t kill_after, bool resume,
          uint64_t init_seed = 1) {
  torch::manual_seed(init_seed);
  auto net = std::make_shared<Net>();
  RegressionTask task(*net);
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
