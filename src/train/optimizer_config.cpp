// The optimiser, scheduler, accumulation and loss keys of a run config.
#include "optimizer_config.h"

#include "config_fields.h"

namespace fovea::train {

double default_weight_decay(const std::string& optimizer) { return optimizer == "sgd" ? 0.0 : 0.01; }

void read_optimizer_and_scheduler(const nlohmann::json& t, TrainerOptions& o) {
  o.optimizer = get<std::string>(t, "optimizer", o.optimizer);
  // configs/optimizer/sgd.yaml: momentum 0.9, dampening 0, nesterov false.
  o.momentum = get<double>(t, "momentum", 0.9);
  o.dampening = get<double>(t, "dampening", 0.0);
  o.nesterov = get<bool>(t, "nesterov", false);
  const auto betas = get<std::vector<double>>(t, "betas", {o.adam_beta1, o.adam_beta2});
  if (betas.size() != 2) fail("config field 'training.betas'", "must be two numbers, e.g. [0.9, 0.999]");
  o.adam_beta1 = betas[0];
  o.adam_beta2 = betas[1];
  o.adam_eps = get<double>(t, "eps", o.adam_eps);
  o.accumulate_grad_batches = get<int64_t>(t, "accumulate_grad_batches", 1);

  const nlohmann::json& s = section(t, "lr_scheduler");
  LrSchedulerOptions& so = o.lr_scheduler;
  const std::string& name = o.lr_schedule;
  so.name = name;
  // openretina's configs step OneCycleLR per optimiser step, the others per epoch.
  so.interval = get<std::string>(s, "interval", name == "one_cycle" ? "step" : "epoch");
  so.frequency = get<int64_t>(s, "frequency", 1);
  so.step_size = get<int64_t>(s, "step_size", 10);
  so.milestones = get<std::vector<int64_t>>(s, "milestones", {30, 60, 90});
  so.gamma = get<double>(s, "gamma", name == "exponential" ? 0.95 : 0.1);
  so.T_max = get<int64_t>(s, "T_max", o.max_epochs);  // the file's comment: "should match max_epochs"
  so.eta_min = get<double>(s, "eta_min", 1e-6);
  so.T_0 = get<int64_t>(s, "T_0", 10);
  so.T_mult = get<int64_t>(s, "T_mult", 2);
  so.max_lr = get<double>(s, "max_lr", 0.0);
  so.total_steps = get<int64_t>(s, "total_steps", 0);
  so.pct_start = get<double>(s, "pct_start", 0.3);
  so.anneal_strategy = get<std::string>(s, "anneal_strategy", "cos");
  so.cycle_momentum = get<bool>(s, "cycle_momentum", true);
  so.base_momentum = get<double>(s, "base_momentum", 0.85);
  so.max_momentum = get<double>(s, "max_momentum", 0.95);
  so.div_factor = get<double>(s, "div_factor", 25.0);
  so.final_div_factor = get<double>(s, "final_div_factor", 1e4);
  so.three_phase = get<bool>(s, "three_phase", false);
}

RetinaLossOptions read_retina_loss(const nlohmann::json& t) {
  RetinaLossOptions l;
  l.name = get<std::string>(t, "loss", l.name);
  l.gamma_l1 = get<double>(t, "gamma_l1", l.gamma_l1);
  l.avg = get<bool>(t, "loss_avg", l.avg);
  return l;
}

}  // namespace fovea::train
