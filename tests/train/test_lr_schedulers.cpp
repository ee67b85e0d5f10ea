// PyTorch's learning-rate schedulers against the rates PyTorch 1.13.1 itself
// computes. The expected rows (each group's lr, then the momentum or beta1
// where cycled, at last_epoch 0, 1, ...) were printed by Debian's
// python3-torch (/usr/bin/python3, torch 1.13.1) with this script:
//
//   import torch; from torch.optim import SGD, AdamW; from torch.optim import lr_scheduler as L
//   def run(make_opt, make_sched, n, mom=None):
//       p = [torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))]
//       opt = make_opt(p); s = make_sched(opt); out = []
//       for i in range(n + 1):
//           g = opt.param_groups
//           row = [g[0]['lr']] + ([g[1]['lr']] if len(g) > 1 else [])
//           if mom == 'sgd': row.append(g[0]['momentum'])
//           if mom == 'adamw': row.append(g[0]['betas'][0])
//           out.append(row)
//           if i < n: opt.step(); s.step()
//       return out
//   one = lambda lr: (lambda p: SGD([p[0]], lr=lr, momentum=0.9))
//   two = lambda p: SGD([{'params': [p[0]], 'lr': 0.1}, {'params': [p[1]], 'lr': 0.02}], lr=0.1, momentum=0.9)
//   run(two, lambda o: L.StepLR(o, step_size=3, gamma=0.5), 12)
//   run(one(0.1), lambda o: L.MultiStepLR(o, milestones=[2, 5, 5, 9], gamma=0.3), 12)
//   run(one(0.1), lambda o: L.ExponentialLR(o, gamma=0.9), 12)
//   run(two, lambda o: L.CosineAnnealingLR(o, T_max=5, eta_min=0.001), 16)
//   run(one(0.1), lambda o: L.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=0.001), 22)
//   run(one(0.1), lambda o: L.OneCycleLR(o, max_lr=0.2, total_steps=20), 20, 'sgd')
//   run(lambda p: AdamW([p[0]], lr=0.01), lambda o: L.OneCycleLR(o, max_lr=0.05, total_steps=15, pct_start=0.25,
//       anneal_strategy='linear', three_phase=True, div_factor=10, final_div_factor=100), 15, 'adamw')
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "fovea/error.h"
#include "fovea/train/lr_schedulers.h"
#include "fovea/train/trainer.h"

namespace {

using fovea::train::LrScheduler;
using fovea::train::LrSchedulerOptions;
using Rows = std::vector<std::vector<double>>;

const std::vector<std::vector<double>> kStep = {
    {0.1, 0.02},
    {0.1, 0.02},
    {0.1, 0.02},
    {0.05, 0.01},
    {0.05, 0.01},
    {0.05, 0.01},
    {0.025, 0.005},
    {0.025, 0.005},
    {0.025, 0.005},
    {0.0125, 0.0025},
    {0.0125, 0.0025},
    {0.0125, 0.0025},
    {0.00625, 0.00125},
};

const std::vector<std::vector<double>> kMultiStep = {
    {0.1},
    {0.1},
    {0.03},
    {0.03},
    {0.03},
    {0.0026999999999999997},
    {0.0026999999999999997},
    {0.0026999999999999997},
    {0.0026999999999999997},
    {0.0008099999999999998},
    {0.0008099999999999998},
    {0.0008099999999999998},
    {0.0008099999999999998},
};

const std::vector<std::vector<double>> kExponential = {
    {0.1},
    {0.09000000000000001},
    {0.08100000000000002},
    {0.07290000000000002},
    {0.06561000000000002},
    {0.05904900000000002},
    {0.05314410000000002},
    {0.04782969000000002},
    {0.043046721000000024},
    {0.03874204890000002},
    {0.03486784401000002},
    {0.03138105960900001},
    {0.028242953648100012},
};

const std::vector<std::vector<double>> kCosine = {
    {0.1, 0.02},
    {0.0905463412215599, 0.018185661446562},
    {0.06579634122155989, 0.013435661446562},
    {0.035203658778440096, 0.007564338553437999},
    {0.010453658778440105, 0.002814338553438},
    {0.001, 0.001},
    {0.010453658778440102, 0.002814338553437999},
    {0.03520365877844012, 0.007564338553438001},
    {0.06579634122155993, 0.013435661446562004},
    {0.09054634122155995, 0.01818566144656201},
    {0.10000000000000005, 0.020000000000000007},
    {0.09054634122155998, 0.018185661446562015},
    {0.06579634122155995, 0.013435661446562008},
    {0.03520365877844014, 0.007564338553438004},
    {0.010453658778440116, 0.0028143385534380016},
    {0.001, 0.001},
    {0.010453658778440102, 0.002814338553437999},
};

const std::vector<std::vector<double>> kWarmRestarts = {
    {0.1},
    {0.07525000000000001},
    {0.025750000000000012},
    {0.1},
    {0.09336825748732973},
    {0.07525000000000001},
    {0.0505},
    {0.025750000000000012},
    {0.007631742512670284},
    {0.1},
    {0.09831332840130888},
    {0.09336825748732973},
    {0.0855017856687341},
    {0.07525000000000001},
    {0.06331154273257478},
    {0.0505},
    {0.03768845726742523},
    {0.025750000000000012},
    {0.0154982143312659},
    {0.007631742512670284},
    {0.0026866715986911243},
    {0.1},
    {0.09957652063800362},
};

const std::vector<std::vector<double>> kOneCycleSgd = {
    {0.008000000000000007, 0.95},
    {0.026334368540005065, 0.9404508497187474},
    {0.07433436854000505, 0.9154508497187474},
    {0.13366563145999494, 0.8845491502812526},
    {0.18166563145999495, 0.8595491502812526},
    {0.2, 0.85},
    {0.19749280124701749, 0.8512536043909088},
    {0.19009692640269477, 0.854951556604879},
    {0.17818323551421, 0.8609084258765984},
    {0.1623491307899526, 0.8688255099070633},
    {0.14338860035826018, 0.878305813044122},
    {0.12225240438725786, 0.8888739533021842},
    {0.1000004, 0.8999999999999999},
    {0.07774839561274215, 0.9111260466978157},
    {0.056612199641739844, 0.9216941869558779},
    {0.0376516692100474, 0.9311744900929366},
    {0.021817564485790007, 0.9390915741234015},
    {0.009903873597305258, 0.945048443395121},
    {0.002507998752982511, 0.9487463956090911},
    {8e-07, 0.95},
    {0.002507998752982511, 0.9487463956090911},
};

const std::vector<std::vector<double>> kOneCycleThreePhase = {
    {0.005, 0.95},
    {0.021363636363636366, 0.9136363636363636},
    {0.03772727272727273, 0.8772727272727272},
    {0.04590909090909091, 0.859090909090909},
    {0.029545454545454545, 0.8954545454545454},
    {0.013181818181818176, 0.9318181818181818},
    {0.004708823529411764, 0.95},
    {0.004126470588235294, 0.95},
    {0.0035441176470588235, 0.95},
    {0.002961764705882353, 0.95},
    {0.002379411764705882, 0.95},
    {0.0017970588235294116, 0.95},
    {0.001214705882352941, 0.95},
    {0.0006323529411764702, 0.95},
    {4.99999999999997e-05, 0.95},
    {-0.0005323529411764708, 0.95},
};

std::vector<at::Tensor> two_params() { return {torch::zeros({1}, torch::requires_grad()), torch::zeros({1}, torch::requires_grad())}; }

// SGD with PyTorch's groups: one (lr) or two (0.1 and 0.02), momentum 0.9.
std::unique_ptr<torch::optim::SGD> sgd(const std::vector<at::Tensor>& p, bool two_groups, double lr = 0.1) {
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(std::vector<at::Tensor>{p[0]}, std::make_unique<torch::optim::SGDOptions>(torch::optim::SGDOptions(lr).momentum(0.9)));
  if (two_groups)
    groups.emplace_back(std::vector<at::Tensor>{p[1]}, std::make_unique<torch::optim::SGDOptions>(torch::optim::SGDOptions(0.02).momentum(0.9)));
  return std::make_unique<torch::optim::SGD>(groups, torch::optim::SGDOptions(lr).momentum(0.9));
}

double momentum_of(torch::optim::Optimizer& o) {
  auto& opts = o.param_groups()[0].options();
  if (auto* s = dynamic_cast<torch::optim::SGDOptions*>(&opts)) return s->momentum();
  return std::get<0>(dynamic_cast<torch::optim::AdamWOptions&>(opts).betas());
}

// Steps the scheduler through the rows and compares every group's rate (and
// the cycled momentum) with PyTorch's, to 4 ulps.
void expect_rows(torch::optim::Optimizer& opt, LrScheduler& s, const Rows& expected, bool with_momentum) {
  const size_t groups = opt.param_groups().size();
  for (size_t i = 0; i < expected.size(); ++i) {
    ASSERT_EQ(expected[i].size(), groups + (with_momentum ? 1 : 0));
    EXPECT_EQ(s.last_epoch(), static_cast<int64_t>(i));
    for (size_t g = 0; g < groups; ++g)
      EXPECT_DOUBLE_EQ(opt.param_groups()[g].options().get_lr(), expected[i][g]) << "step " << i << ", group " << g;
    if (with_momentum) {
      EXPECT_DOUBLE_EQ(momentum_of(opt), expected[i][groups]) << "momentum at step " << i;
    }
    if (i + 1 < expected.size()) s.step();
  }
}

LrSchedulerOptions named(const std::string& name) {
  LrSchedulerOptions o;
  o.name = name;
  return o;
}

TEST(LrSchedulers, StepLRMatchesPyTorchForEveryGroup) {
  auto p = two_params();
  auto opt = sgd(p, true);
  auto o = named("step");
  o.step_size = 3;
  o.gamma = 0.5;
  LrScheduler s(*opt, o);
  expect_rows(*opt, s, kStep, false);
}

TEST(LrSchedulers, MultiStepLRMatchesPyTorchWithARepeatedMilestone) {
  auto p = two_params();
  auto opt = sgd(p, false);
  auto o = named("multi_step");
  o.milestones = {2, 5, 5, 9};
  o.gamma = 0.3;
  LrScheduler s(*opt, o);
  expect_rows(*opt, s, kMultiStep, false);
}

TEST(LrSchedulers, ExponentialLRMatchesPyTorch) {
  auto p = two_params();
  auto opt = sgd(p, false);
  auto o = named("exponential");
  o.gamma = 0.9;
  LrScheduler s(*opt, o);
  expect_rows(*opt, s, kExponential, false);
}

TEST(LrSchedulers, CosineAnnealingLRMatchesPyTorchPastTMax) {
  auto p = two_params();
  auto opt = sgd(p, true);
  auto o = named("cosine_annealing");
  o.T_max = 5;
  o.eta_min = 0.001;
  LrScheduler s(*opt, o);
  expect_rows(*opt, s, kCosine, false);
}

TEST(LrSchedulers, CosineAnnealingWarmRestartsMatchesPyTorchOverThreeCycles) {
  auto p = two_params();
  auto opt = sgd(p, false);
  auto o = named("cosine_annealing_warm_restarts");
  o.T_0 = 3;
  o.T_mult = 2;
  o.eta_min = 0.001;
  LrScheduler s(*opt, o);
  expect_rows(*opt, s, kWarmRestarts, false);
}

TEST(LrSchedulers, OneCycleLRMatchesPyTorchAndCyclesSgdMomentum) {
  auto p = two_params();
  auto opt = sgd(p, false);
  auto o = named("one_cycle");
  o.max_lr = 0.2;
  o.total_steps = 20;
  LrScheduler s(*opt, o);
  expect_rows(*opt, s, kOneCycleSgd, true);
  // PyTorch raises on the step after total_steps.
  EXPECT_THROW(s.step(), fovea::Error);
}

TEST(LrSchedulers, OneCycleLRThreePhaseLinearMatchesPyTorchAndCyclesAdamWBeta1) {
  auto p = two_params();
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(std::vector<at::Tensor>{p[0]}, std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(0.01)));
  torch::optim::AdamW opt(groups, torch::optim::AdamWOptions(0.01));
  auto o = named("one_cycle");
  o.max_lr = 0.05;
  o.total_steps = 15;
  o.pct_start = 0.25;
  o.anneal_strategy = "linear";
  o.three_phase = true;
  o.div_factor = 10;
  o.final_div_factor = 100;
  LrScheduler s(opt, o);
  expect_rows(opt, s, kOneCycleThreePhase, true);
}

TEST(LrSchedulers, FrequencyStepsEveryNthInterval) {
  auto p = two_params();
  auto opt = sgd(p, false);
  auto o = named("exponential");
  o.gamma = 0.9;
  o.frequency = 3;
  LrScheduler s(*opt, o);
  for (int i = 0; i < 8; ++i) s.interval_done();
  EXPECT_EQ(s.last_epoch(), 2);
  EXPECT_DOUBLE_EQ(s.lr(), kExponential[2][0]);
}

TEST(LrSchedulers, BadOptionsNameTheOption) {
  auto p = two_params();
  auto opt = sgd(p, false);
  auto message = [&](LrSchedulerOptions o) {
    try {
      LrScheduler s(*opt, o);
    } catch (const fovea::Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message(named("cosine")).find("unknown scheduler 'cosine'"), std::string::npos);
  auto o = named("step");
  o.step_size = 0;
  EXPECT_NE(message(o).find("step_size"), std::string::npos);
  o = named("one_cycle");
  EXPECT_NE(message(o).find("total_steps"), std::string::npos);
  o = named("exponential");
  o.interval = "batch";
  EXPECT_NE(message(o).find("interval"), std::string::npos);
}

}  // namespace
