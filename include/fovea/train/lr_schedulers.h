#pragma once
// PyTorch's learning-rate schedulers (torch.optim.lr_scheduler, 1.13.1) over
// a LibTorch optimiser: OneCycleLR, CosineAnnealingLR,
// CosineAnnealingWarmRestarts, StepLR, MultiStepLR and ExponentialLR, with
// the recursive ("chainable") update each one's step() applies, so the
// learning rates equal PyTorch's to the last bits. ReduceLROnPlateau, which
// needs the validation score, stays in the trainer (trainer.cpp).
//
// As in PyTorch, constructing a scheduler sets every group's learning rate to
// its value at step 0, and each step() advances one epoch or one optimiser
// step (Lightning's `interval`: openretina steps OneCycleLR per optimiser
// step and the others per epoch).
#include <torch/optim/optimizer.h>

#include <cstdint>
#include <string>
#include <vector>

namespace fovea::train {

struct LrSchedulerOptions {
  // one_cycle | cosine_annealing | cosine_annealing_warm_restarts | step | multi_step | exponential
  std::string name;
  std::string interval = "epoch";  // Lightning's: "epoch" or "step" (optimiser step)
  int64_t frequency = 1;           // Lightning's: step the scheduler every `frequency` intervals

  // StepLR (step_size, gamma), MultiStepLR (milestones, gamma), ExponentialLR (gamma)
  int64_t step_size = 10;
  std::vector<int64_t> milestones;
  double gamma = 0.1;
  // CosineAnnealingLR (T_max, eta_min), CosineAnnealingWarmRestarts (T_0, T_mult, eta_min)
  int64_t T_max = 100;
  double eta_min = 0.0;
  int64_t T_0 = 10;
  int64_t T_mult = 1;
  // OneCycleLR. max_lr 0: the optimiser's learning rate (openretina's
  // ${model.learning_rate}); total_steps 0: the trainer fills in
  // max_epochs × optimiser steps per epoch (Lightning's estimated_stepping_batches).
  double max_lr = 0.0;
  int64_t total_steps = 0;
  double pct_start = 0.3;
  std::string anneal_strategy = "cos";  // cos | linear
  bool cycle_momentum = true;           // SGD's momentum or Adam(W)'s beta1, inversely to the rate
  double base_momentum = 0.85, max_momentum = 0.95;
  double div_factor = 25.0, final_div_factor = 1e4;
  bool three_phase = false;
};

// The scheduler names above, for messages and config checks.
const std::vector<std::string>& lr_scheduler_names();

class LrScheduler {
 public:
  // Checks the options (an fovea::Error names the bad one) and sets the
  // groups' learning rates (and, for OneCycleLR, momenta) to step 0's values.
  LrScheduler(torch::optim::Optimizer& optimizer, LrSchedulerOptions options);

  // PyTorch's scheduler.step(): advances one epoch/step and sets the new rates.
  void step();
  // Lightning's stepping: call once per finished interval (epoch or optimiser
  // step); steps the scheduler every `frequency` calls.
  void interval_done();

  int64_t last_epoch() const { return last_epoch_; }
  double lr() const;  // the first group's learning rate
  const LrSchedulerOptions& options() const { return options_; }

  // The counters that, with the optimiser's learning rates, are the
  // scheduler's whole state (a checkpoint saves and restores them).
  std::vector<int64_t> counters() const { return {last_epoch_, intervals_, T_cur_, T_i_}; }
  void set_counters(const std::vector<int64_t>& c);

 private:
  std::vector<double> next_lrs();  // get_lr() at the new last_epoch_
  void apply(const std::vector<double>& lrs);

  torch::optim::Optimizer& optimizer_;
  LrSchedulerOptions options_;
  std::vector<double> base_lrs_;
  int64_t last_epoch_ = 0;
  int64_t intervals_ = 0;
  // CosineAnnealingWarmRestarts
  int64_t T_cur_ = 0, T_i_ = 0;
  // OneCycleLR, per group
  std::vector<double> initial_lrs_, max_lrs_, min_lrs_;
};

}  // namespace fovea::train
