// torch.optim.lr_scheduler (PyTorch 1.13.1) over LibTorch optimisers. Each
// get_lr() below is PyTorch's recursive form, computed in double as Python
// does, so the rates match PyTorch's bit for bit rather than only to the
// closed-form formula.
#include "fovea/train/lr_schedulers.h"

#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>

#include <algorithm>
#include <cmath>

#include "fovea/error.h"

namespace fovea::train {

namespace {

constexpr double kPi = 3.14159265358979323846;  // Python's math.pi

// Python's a % m for m > 0 (never negative).
int64_t python_mod(int64_t a, int64_t m) { return ((a % m) + m) % m; }

void need(bool ok, const std::string& option, const std::string& what) {
  check(ok, "learning-rate scheduler option '" + option + "'", what);
}

// OneCycleLR's momentum: SGD's momentum or Adam(W)'s beta1.
void set_momentum(torch::optim::OptimizerOptions& o, double m) {
  if (auto* s = dynamic_cast<torch::optim::SGDOptions*>(&o)) s->momentum(m);
  else if (auto* a = dynamic_cast<torch::optim::AdamWOptions*>(&o)) a->betas({m, std::get<1>(a->betas())});
  else if (auto* b = dynamic_cast<torch::optim::AdamOptions*>(&o)) b->betas({m, std::get<1>(b->betas())});
  else fail("one_cycle", "cycle_momentum needs an optimiser with momentum (SGD) or betas (Adam, AdamW)");
}

struct Phase {
  double end_step;
  int start_lr, end_lr;  // 0 initial, 1 max, 2 min
  bool momentum_up;      // start at base_momentum and end at max_momentum (else the reverse)
  bool momentum_flat;    // three_phase's last phase: max_momentum throughout
};

}  // namespace

const std::vector<std::string>& lr_scheduler_names() {
  static const std::vector<std::string> names = {"one_cycle", "cosine_annealing", "cosine_annealing_warm_restarts",
                                                 "step", "multi_step", "exponential"};
  return names;
}

LrScheduler::LrScheduler(torch::optim::Optimizer& optimizer, LrSchedulerOptions options)
    : optimizer_(optimizer), options_(std::move(options)) {
  const auto& names = lr_scheduler_names();
  need(std::find(names.begin(), names.end(), options_.name) != names.end(), "name",
       "unknown scheduler '" + options_.name +
           "' (known: one_cycle, cosine_annealing, cosine_annealing_warm_restarts, step, multi_step, exponential)");
  need(options_.interval == "epoch" || options_.interval == "step", "interval",
       "must be epoch or step, got '" + options_.interval + "'");
  need(options_.frequency >= 1, "frequency", "must be at least 1");
  const std::string& n = options_.name;
  if (n == "step") need(options_.step_size >= 1, "step_size", "must be at least 1");
  if (n == "cosine_annealing") need(options_.T_max >= 1, "T_max", "must be at least 1");
  if (n == "cosine_annealing_warm_restarts") {
    need(options_.T_0 >= 1, "T_0", "must be at least 1");
    need(options_.T_mult >= 1, "T_mult", "must be at least 1");
  }
  for (auto& g : optimizer_.param_groups()) base_lrs_.push_back(g.options().get_lr());
  if (n == "one_cycle") {
    need(options_.total_steps >= 1, "total_steps", "must be at least 1");
    need(options_.pct_start >= 0 && options_.pct_start <= 1, "pct_start", "must be in [0, 1]");
    need(options_.anneal_strategy == "cos" || options_.anneal_strategy == "linear", "anneal_strategy",
         "must be cos or linear");
    need(options_.div_factor > 0 && options_.final_div_factor > 0, "div_factor",
         "div_factor and final_div_factor must be positive");
    for (size_t i = 0; i < base_lrs_.size(); ++i) {
      const double max_lr = options_.max_lr > 0 ? options_.max_lr : base_lrs_[i];
      max_lrs_.push_back(max_lr);
      initial_lrs_.push_back(max_lr / options_.div_factor);
      min_lrs_.push_back(initial_lrs_.back() / options_.final_div_factor);
    }
    base_lrs_ = initial_lrs_;  // PyTorch's base_lrs are the groups' initial_lr
    if (options_.cycle_momentum)
      for (auto& g : optimizer_.param_groups()) set_momentum(g.options(), options_.max_momentum);
  }
  if (n == "cosine_annealing_warm_restarts") T_i_ = options_.T_0;
  // PyTorch's _initial_step(): step() at last_epoch 0.
  last_epoch_ = 0;
  apply(next_lrs());
}

double LrScheduler::lr() const { return optimizer_.param_groups().front().options().get_lr(); }

void LrScheduler::apply(const std::vector<double>& lrs) {
  auto& groups = optimizer_.param_groups();
  for (size_t i = 0; i < groups.size(); ++i) groups[i].options().set_lr(lrs[i]);
}

void LrScheduler::step() {
  ++last_epoch_;
  if (options_.name == "cosine_annealing_warm_restarts") {
    if (++T_cur_ >= T_i_) {
      T_cur_ -= T_i_;
      T_i_ *= options_.T_mult;
    }
  }
  apply(next_lrs());
}

void LrScheduler::set_counters(const std::vector<int64_t>& c) {
  check(c.size() == 4, "learning-rate scheduler state", "expected 4 counters, got " + std::to_string(c.size()));
  last_epoch_ = c[0], intervals_ = c[1], T_cur_ = c[2], T_i_ = c[3];
}

void LrScheduler::interval_done() {
  if (++intervals_ % options_.frequency == 0) step();
}

std::vector<double> LrScheduler::next_lrs() {
  auto& groups = optimizer_.param_groups();
  std::vector<double> lrs;
  const std::string& n = options_.name;
  const int64_t e = last_epoch_;
  for (size_t i = 0; i < groups.size(); ++i) {
    const double lr = groups[i].options().get_lr();  // group['lr']
    const double base = base_lrs_[i];
    if (n == "step") {
      lrs.push_back(e == 0 || e % options_.step_size != 0 ? lr : lr * options_.gamma);
    } else if (n == "multi_step") {
      const auto hits = std::count(options_.milestones.begin(), options_.milestones.end(), e);
      lrs.push_back(hits == 0 ? lr : lr * std::pow(options_.gamma, static_cast<double>(hits)));
    } else if (n == "exponential") {
      lrs.push_back(e == 0 ? lr : lr * options_.gamma);
    } else if (n == "cosine_annealing") {
      const double T = static_cast<double>(options_.T_max), eta = options_.eta_min;
      if (e == 0) lrs.push_back(lr);
      else if (python_mod(e - 1 - options_.T_max, 2 * options_.T_max) == 0)
        lrs.push_back(lr + (base - eta) * (1 - std::cos(kPi / T)) / 2);
      else
        lrs.push_back((1 + std::cos(kPi * static_cast<double>(e) / T)) /
                          (1 + std::cos(kPi * static_cast<double>(e - 1) / T)) * (lr - eta) +
                      eta);
    } else if (n == "cosine_annealing_warm_restarts") {
      const double eta = options_.eta_min;
      lrs.push_back(eta + (base - eta) * (1 + std::cos(kPi * static_cast<double>(T_cur_) / static_cast<double>(T_i_))) / 2);
    } else {  // one_cycle
      check(e <= options_.total_steps, "one_cycle",
            "stepped " + std::to_string(e) + " times, more than total_steps " + std::to_string(options_.total_steps) +
                " (PyTorch raises here too); raise total_steps");
      const double total = static_cast<double>(options_.total_steps);
      std::vector<Phase> phases;
      if (options_.three_phase)
        phases = {{options_.pct_start * total - 1, 0, 1, false, false},
                  {2 * options_.pct_start * total - 2, 1, 0, true, false},
                  {total - 1, 0, 2, true, true}};
      else
        phases = {{options_.pct_start * total - 1, 0, 1, false, false}, {total - 1, 1, 2, true, false}};
      const double lr_of[3] = {initial_lrs_[i], max_lrs_[i], min_lrs_[i]};
      auto anneal = [&](double start, double end, double pct) {
        if (options_.anneal_strategy == "linear") return (end - start) * pct + start;
        const double cos_out = std::cos(kPi * pct) + 1;
        return end + (start - end) / 2.0 * cos_out;
      };
      double start_step = 0, computed_lr = 0, computed_momentum = 0;
      for (size_t p = 0; p < phases.size(); ++p) {
        const Phase& ph = phases[p];
        if (static_cast<double>(e) <= ph.end_step || p + 1 == phases.size()) {
          const double pct = (static_cast<double>(e) - start_step) / (ph.end_step - start_step);
          computed_lr = anneal(lr_of[ph.start_lr], lr_of[ph.end_lr], pct);
          const double lo = options_.base_momentum, hi = options_.max_momentum;
          computed_momentum = ph.momentum_flat ? anneal(hi, hi, pct) : ph.momentum_up ? anneal(lo, hi, pct)
                                                                                       : anneal(hi, lo, pct);
          break;
        }
        start_step = ph.end_step;
      }
      lrs.push_back(computed_lr);
      if (options_.cycle_momentum) set_momentum(groups[i].options(), computed_momentum);
    }
  }
  return lrs;
}

}  // namespace fovea::train
