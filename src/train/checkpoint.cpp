// Writing and reading the trainer's checkpoint (see checkpoint.h).
#include "checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <mutex>
#include <sstream>

#include "fovea/error.h"
#include "fovea/io/atomic_file.h"
#include "fovea/train/lr_schedulers.h"

namespace fovea::train {

ModelState copy_state(const torch::nn::Module& model) {
  ModelState s;
  torch::NoGradGuard no_grad;
  for (const auto& p : model.named_parameters(true)) s.emplace_back(p.key(), p.value().detach().clone());
  for (const auto& b : model.named_buffers(true)) s.emplace_back(b.key(), b.value().detach().clone());
  return s;
}

ModelState state_view(const torch::nn::Module& model) {
  ModelState s;
  for (const auto& p : model.named_parameters(true)) s.emplace_back(p.key(), p.value().detach());
  for (const auto& b : model.named_buffers(true)) s.emplace_back(b.key(), b.value().detach());
  return s;
}

at::Tensor generator_state() {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}

void set_generator_state(const at::Tensor& state) {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
}

std::vector<std::string> params_with_grad(const torch::nn::Module& model) {
  std::vector<std::string> names;
  for (const auto& p : model.named_parameters(true))
    if (p.value().grad().defined()) names.push_back(p.key());
  return names;
}

void give_zero_grads(torch::nn::Module& model, const std::vector<std::string>& names) {
  auto params = model.named_parameters(true);
  for (const auto& name : names)
    if (auto* p = params.find(name); p && !p->grad().defined()) p->mutable_grad() = torch::zeros_like(*p);
}

void restore_state(torch::nn::Module& model, const ModelState& state) {
  torch::NoGradGuard no_grad;
  auto params = model.named_parameters(true);
  auto buffers = model.named_buffers(true);
  for (const auto& [name, value] : state) {
    if (auto* p = params.find(name)) p->copy_(value);
    else if (auto* b = buffers.find(name)) b->copy_(value);
  }
}

namespace {

// 2: the run's optimiser steps, and checkpoints inside an epoch. Version 1
// (epochs only) reads as version 2 with no steps counted.
constexpr int64_t kVersion = 2;

// A group's momentum-like option that schedulers change (OneCycleLR cycles
// AdamW's beta1 or SGD's momentum); LibTorch's optimiser archive restores the
// state but not the groups' options, so they are saved here.
double group_momentum(const torch::optim::OptimizerOptions& o) {
  if (auto* a = dynamic_cast<const torch::optim::AdamWOptions*>(&o)) return std::get<0>(a->betas());
  if (auto* s = dynamic_cast<const torch::optim::SGDOptions*>(&o)) return s->momentum();
  return 0.0;
}

void set_group_momentum(torch::optim::OptimizerOptions& o, double m) {
  if (auto* a = dynamic_cast<torch::optim::AdamWOptions*>(&o)) a->betas({m, std::get<1>(a->betas())});
  else if (auto* s = dynamic_cast<torch::optim::SGDOptions*>(&o)) s->momentum(m);
}

void write_state(torch::serialize::OutputArchive& a, const std::string& key, const ModelState& state) {
  c10::List<std::string> names;
  c10::List<at::Tensor> values;
  for (const auto& [name, value] : state) {
    names.push_back(name);
    values.push_back(value);
  }
  a.write(key + "_names", c10::IValue(names));
  a.write(key + "_values", c10::IValue(values));
}

ModelState read_state(torch::serialize::InputArchive& a, const std::string& key) {
  c10::IValue names, values;
  a.read(key + "_names", names);
  a.read(key + "_values", values);
  const auto n = names.toList();
  const auto v = values.toTensorList();
  TORCH_CHECK(n.size() == v.size(), "the names and values of '", key, "' differ in number");
  ModelState s;
  for (size_t i = 0; i < n.size(); ++i) s.emplace_back(n.get(i).toStringRef(), v.get(i));
  return s;
}

c10::List<int64_t> int_list(const std::vector<int64_t>& v) {
  c10::List<int64_t> l;
  for (auto x : v) l.push_back(x);
  return l;
}

}  // namespace

void write_checkpoint(const std::string& path, const FitProgress& p, const torch::optim::Optimizer* optimizer,
                      const LrScheduler* scheduler) {
  torch::serialize::OutputArchive a;
  a.write("version", c10::IValue(kVersion));
  a.write("counters", c10::IValue(int_list({p.next_epoch, p.period, p.next_epoch_in_period, p.period_done ? 1 : 0,
                                            p.since_best, p.plateau_bad_epochs, p.best_epoch, p.epochs_run})));
  c10::List<double> reals;
  for (double x : {p.lr, p.best_for_patience, p.plateau_best, p.best_score}) reals.push_back(x);
  a.write("reals", c10::IValue(reals));  // doubles as doubles: -inf and NaN survive
  a.write("early_stopped_periods", c10::IValue(int_list(p.early_stopped_periods)));
  a.write("metrics_csv", c10::IValue(p.metrics_csv));
  write_state(a, "model", p.model);
  write_state(a, "best", p.best);
  c10::List<std::string> with_grad;
  for (const auto& name : p.params_with_grad) with_grad.push_back(name);
  a.write("params_with_grad", c10::IValue(with_grad));
  a.write("cpu_generator", generator_state(), /*is_buffer=*/true);
  a.write("steps", c10::IValue(p.steps));
  if (p.next_batch > 0) {
    a.write("in_epoch", c10::IValue(p.next_batch));
    c10::List<double> sums;
    for (double x : {p.loss_sum, p.epoch_seconds}) sums.push_back(x);
    a.write("in_epoch_sums", c10::IValue(sums));
    a.write("epoch_generator", p.epoch_generator, /*is_buffer=*/true);
  }
  if (optimizer) {
    torch::serialize::OutputArchive o;
    optimizer->save(o);
    a.write("optimizer", o);
    c10::List<double> lrs, momenta;
    for (const auto& g : optimizer->param_groups()) {
      lrs.push_back(g.options().get_lr());
      momenta.push_back(group_momentum(g.options()));
    }
    a.write("group_lrs", c10::IValue(lrs));
    a.write("group_momenta", c10::IValue(momenta));
  }
  if (scheduler) a.write("scheduler", c10::IValue(int_list(scheduler->counters())));
  std::ostringstream bytes;
  a.save_to(bytes);
  io::write_file_atomic(path, bytes.str());
}

LoadedCheckpoint::LoadedCheckpoint(const std::string& path) : path_(path) {
  try {
    archive_ = std::make_unique<torch::serialize::InputArchive>();
    archive_->load_from(path);
    c10::IValue version, counters, reals, stopped, csv;
    archive_->read("version", version);
    check(version.toInt() == 1 || version.toInt() == kVersion, path,
          "checkpoint version " + std::to_string(version.toInt()) + ", this fovea reads versions 1 to " +
              std::to_string(kVersion));
    archive_->read("counters", counters);
    archive_->read("reals", reals);
    archive_->read("early_stopped_periods", stopped);
    archive_->read("metrics_csv", csv);
    const auto c = counters.toIntVector();
    const auto r = reals.toDoubleVector();
    TORCH_CHECK(c.size() == 8 && r.size() == 4, "unexpected counters");
    FitProgress& p = progress_;
    p.next_epoch = c[0], p.period = c[1], p.next_epoch_in_period = c[2], p.period_done = c[3] != 0;
    p.since_best = c[4], p.plateau_bad_epochs = c[5], p.best_epoch = c[6], p.epochs_run = c[7];
    p.lr = r[0], p.best_for_patience = r[1], p.plateau_best = r[2], p.best_score = r[3];
    p.early_stopped_periods = stopped.toIntVector();
    p.metrics_csv = csv.toStringRef();
    p.model = read_state(*archive_, "model");
    p.best = read_state(*archive_, "best");
    c10::IValue with_grad;
    archive_->read("params_with_grad", with_grad);
    for (const c10::IValue& name : with_grad.toListRef()) p.params_with_grad.push_back(name.toStringRef());
    archive_->read("cpu_generator", generator_state_, /*is_buffer=*/true);
    c10::IValue steps, in_epoch;
    if (archive_->try_read("steps", steps)) p.steps = steps.toInt();
    if (archive_->try_read("in_epoch", in_epoch)) {
      c10::IValue sums;
      archive_->read("in_epoch_sums", sums);
      const auto s = sums.toDoubleVector();
      TORCH_CHECK(in_epoch.toInt() > 0 && s.size() == 2, "unexpected in-epoch position");
      p.next_batch = in_epoch.toInt();
      p.loss_sum = s[0], p.epoch_seconds = s[1];
      archive_->read("epoch_generator", p.epoch_generator, /*is_buffer=*/true);
    }
  } catch (const c10::Error& e) {
    fail(path, std::string("not a readable fovea checkpoint: ") + e.what_without_backtrace());
  }
}

void LoadedCheckpoint::load_optimizer(torch::optim::Optimizer& optimizer, const std::string& kind) {
  try {
    torch::serialize::InputArchive o;
    archive_->read("optimizer", o);
    optimizer.load(o);
    c10::IValue lrs, momenta;
    archive_->read("group_lrs", lrs);
    archive_->read("group_momenta", momenta);
    const auto l = lrs.toDoubleVector(), m = momenta.toDoubleVector();
    auto& groups = optimizer.param_groups();
    TORCH_CHECK(l.size() == groups.size() && m.size() == groups.size(), "the checkpoint's ", l.size(),
                " parameter groups differ from the model's ", groups.size());
    for (size_t i = 0; i < groups.size(); ++i) {
      groups[i].options().set_lr(l[i]);
      set_group_momentum(groups[i].options(), m[i]);
    }

  } catch (const c10::Error& e) {
    fail(path_, "cannot restore the " + kind + " optimiser from the checkpoint (was it written by another config?): " +
                    e.what_without_backtrace());
  }
}

void LoadedCheckpoint::restore_generator() { set_generator_state(generator_state_); }

void LoadedCheckpoint::load_scheduler(LrScheduler& scheduler) {
  c10::IValue counters;
  if (!archive_->try_read("scheduler", counters))
    fail(path_, "the checkpoint has no learning-rate scheduler state, the config names one");
  scheduler.set_counters(counters.toIntVector());
}

}  // namespace fovea::train
