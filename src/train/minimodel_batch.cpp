// Many minimodels trained in one pass (see the header).
#include "fovea/train/minimodel_batch.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <cmath>
#include <deque>
#include <limits>
#include <memory>

#include "fovea/error.h"
#include "fovea/nn/kernels/depthwise_conv2d.h"
#include "fovea/nn/kernels/gemm.h"
#include "fovea/nn/v1_cores.h"
#include "fovea/nn/v1_readouts.h"
#include "fovea/train/masked_poisson.h"
#include "fovea/train/progress.h"

namespace fovea::train {

namespace {

// What the pass needs of a minimodel's modules.
struct Parts {
  std::shared_ptr<nn::MinimodelCore> core;
  std::shared_ptr<nn::Rank1Readout> readout;
  nn::MinimodelLayer layer0{nullptr}, layer1{nullptr};
};

Parts parts_of(const nn::Model& model) {
  Parts p;
  p.core = std::dynamic_pointer_cast<nn::MinimodelCore>(model.core());
  p.readout = std::dynamic_pointer_cast<nn::Rank1Readout>(model.readout());
  if (p.core && p.core->n_layers() == 2) {
    p.layer0 = p.core->layer(0);
    p.layer1 = p.core->layer(1);
  }
  return p;
}

bool plain_batch_norm(const torch::nn::BatchNorm2d& norm) {
  return norm && norm->options.affine() && norm->options.track_running_stats() && norm->options.momentum();
}

// A 1×1 or depthwise conv without bias, stride or dilation, zero-padded by k/2 (minimodel's).
bool plain_conv(const torch::nn::Conv2d& conv, int64_t groups, int64_t kernel) {
  if (!conv || conv->bias.defined()) return false;
  const auto& o = conv->options;
  const auto* padding = c10::get_if<torch::ExpandingArray<2>>(&o.padding());
  auto all = [](const torch::ExpandingArray<2>& a, int64_t v) { return a->at(0) == v && a->at(1) == v; };
  return o.groups() == groups && all(o.kernel_size(), kernel) && all(o.stride(), 1) && all(o.dilation(), 1) &&
         padding && all(*padding, kernel / 2) && c10::get_if<torch::enumtype::kZeros>(&o.padding_mode());
}

at::Tensor activate_(at::Tensor x, const std::string& activation) {
  if (activation == "elu") return torch::elu_(x);
  if (activation == "relu") return torch::relu_(x);
  return x;
}

// One minimodel in the pass: its model and task (param groups, batches,
// clamping), its optimiser, and the state of its schedule as fit() keeps it.
struct Slot {
  size_t index = 0;
  V1TrainingSetup setup;
  Parts parts;
  std::unique_ptr<V1Task> task;
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  std::vector<at::Tensor> state, best;  // parameters and buffers; the best epoch's copies
  TrainingResult result;
  size_t period = 0;
  int64_t epoch_in_period = 0, epoch = 0, since_best = 0;
  double best_for_patience = -std::numeric_limits<double>::infinity();
  std::vector<int64_t> early_stopped_periods;
  double loss_sum = 0;
  bool diverged = false;
  std::string diverged_reason;
};

std::vector<at::Tensor> state_of(const nn::Model& model) {
  std::vector<at::Tensor> s;
  for (const auto& p : model.parameters()) s.push_back(p);
  for (const auto& b : model.buffers()) s.push_back(b);
  return s;
}

std::vector<at::Tensor> copy_of(const std::vector<at::Tensor>& state) {
  std::vector<at::Tensor> c;
  for (const auto& t : state) c.push_back(t.detach().clone());
  return c;
}

void restore(std::vector<at::Tensor>& state, const std::vector<at::Tensor>& from) {
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < state.size(); ++i) state[i].copy_(from[i]);
}

class Pass {
 public:
  Pass(const std::shared_ptr<FirstConvCache>& cache, const std::string& activation)
      : cache_(cache), activation_(activation) {}

  // The predictions (batch, slots) of the slots for these trials; `trials`
  // holds one tensor (all slots see the same trials) or one per slot.
  // Training: batch statistics, and the BatchNorm running statistics updated
  // as BatchNorm2d does.
  at::Tensor forward(const std::vector<Slot*>& slots, const std::vector<at::Tensor>& trials, bool training) {
    const int64_t K = static_cast<int64_t>(slots.size());
    const auto& data = slots.front()->setup.data;
    const auto device = slots.front()->setup.device;
    // Layer0 from the cached pooled first conv (MinimodelLayer::forward_from_pooled, per slot).
    std::vector<nn::PooledFirstConv> pooled;
    for (const auto& t : trials)
      pooled.push_back(
          cache_->pooled.select(cache_->slot.index_select(0, data.image_index.index_select(0, t)).to(device)));
    std::vector<at::Tensor> scales, shifts;
    for (int64_t k = 0; k < K; ++k) {
      const auto& p = pooled[trials.size() == 1 ? 0 : k];
      auto norm = slots[k]->parts.layer0->norm;
      const auto& o = norm->options;
      at::Tensor mean, var;
      if (training) {
        const double n = static_cast<double>(p.sum.size(0) * p.count);
        at::Tensor mean64 = p.sum.sum(0) / n;
        at::Tensor var64 = (p.sum_sq.sum(0) / n - mean64.square()).clamp_min(0);
        mean = mean64.to(p.max.scalar_type());
        var = var64.to(p.max.scalar_type());
        torch::NoGradGuard no_grad;
        norm->num_batches_tracked += 1;
        const double factor = *o.momentum();
        norm->running_mean.mul_(1 - factor).add_(mean, factor);
        norm->running_var.mul_(1 - factor).add_(var * (n / std::max(n - 1, 1.0)), factor);
      } else {
        mean = norm->running_mean;
        var = norm->running_var;
      }
      at::Tensor scale = torch::rsqrt(var + o.eps()) * norm->weight;
      scales.push_back(scale);
      shifts.push_back(-mean * scale + norm->bias);
    }
    const int64_t C0 = pooled.front().max.size(1), h = pooled.front().max.size(2), w = pooled.front().max.size(3);
    const int64_t B = pooled.front().max.size(0);
    auto by_slot = [&](const std::vector<at::Tensor>& v) { return torch::stack(v).view({1, K, C0, 1, 1}); };
    auto maps = [&](at::Tensor nn::PooledFirstConv::*field) {
      if (pooled.size() == 1) return (pooled.front().*field).view({B, 1, C0, h, w});
      std::vector<at::Tensor> v;
      for (const auto& p : pooled) v.push_back(p.*field);
      return torch::stack(v, 1);
    };
    at::Tensor scale = by_slot(scales);
    at::Tensor x = scale.clamp_min(0) * maps(&nn::PooledFirstConv::max) +
                   scale.clamp_max(0) * maps(&nn::PooledFirstConv::min) + by_slot(shifts);
    x = activate_(x, activation_).view({B, K * C0, h, w});

    // Layer1: the grouped 1×1 conv, the depthwise conv, BN over K·S channels.
    std::vector<at::Tensor> in_w, sp_w, bn_w, bn_b, bn_mean, bn_var;
    for (auto* s : slots) {
      const auto& l = s->parts.layer1;
      in_w.push_back(l->in_depth_conv->weight);
      sp_w.push_back(l->spatial_conv->weight);
      bn_w.push_back(l->norm->weight);
      bn_b.push_back(l->norm->bias);
      bn_mean.push_back(l->norm->running_mean);
      bn_var.push_back(l->norm->running_var);
    }
    x = nn::pointwise_conv2d(x, torch::cat(in_w), K);
    const int64_t k = sp_w.front().size(2);
    x = nn::depthwise_conv2d(x, torch::cat(sp_w), {k / 2, k / 2});
    const auto& o1 = slots.front()->parts.layer1->norm->options;
    at::Tensor running_mean = torch::cat(bn_mean), running_var = torch::cat(bn_var);
    x = at::batch_norm(x, torch::cat(bn_w), torch::cat(bn_b), running_mean, running_var, training, *o1.momentum(),
                       o1.eps(), false);
    if (training) {
      torch::NoGradGuard no_grad;
      const int64_t S = bn_mean.front().size(0);
      for (int64_t i = 0; i < K; ++i) {
        bn_mean[i].copy_(running_mean.narrow(0, i * S, S));
        bn_var[i].copy_(running_var.narrow(0, i * S, S));
        slots[i]->parts.layer1->norm->num_batches_tracked += 1;
      }
    }
    x = activate_(x, activation_);

    // One rank-1 readout per slot: Σ_c Wc[c] · Σ_{y,x} (Wy ⊗ Wx)[y, x] · F[c, y, x] + bias.
    std::vector<at::Tensor> wy, wx, wc, bias;
    for (auto* s : slots) {
      const auto& r = s->parts.readout;
      wy.push_back(r->Wy);
      wx.push_back(r->Wx);
      wc.push_back(r->Wc);
      if (r->bias.defined()) bias.push_back(r->bias);
    }
    const int64_t C = x.size(1) / K, Ly = x.size(2), Lx = x.size(3);
    at::Tensor spatial = (torch::cat(wy).view({K, Ly, 1}) * torch::cat(wx).view({K, 1, Lx})).view({1, K, Ly * Lx, 1});
    at::Tensor per_channel = torch::matmul(x.view({B, K, C, Ly * Lx}), spatial).view({B, K, C});
    at::Tensor drive = (per_channel * torch::cat(wc).view({1, K, C})).sum(-1);
    if (!bias.empty()) drive = drive + torch::cat(bias).view({1, K});
    return torch::elu(drive) + 1.0 + 1e-12;
  }

 private:
  std::shared_ptr<FirstConvCache> cache_;
  std::string activation_;
};

// The slots' responses (trials, slots) for their trials (one tensor for all, or one per slot).
at::Tensor gather_columns(const std::vector<Slot*>& slots, const std::vector<at::Tensor>& trials,
                          at::Tensor V1TrainingData::*field) {
  std::vector<at::Tensor> cols;
  for (size_t k = 0; k < slots.size(); ++k)
    cols.push_back((slots[k]->setup.data.*field).index_select(0, trials[trials.size() == 1 ? 0 : k]));
  return torch::cat(cols, 1);
}

}  // namespace

std::string batched_minimodels_unsupported(const V1TrainingSetup& setup, const FirstConvCache* cache) {
  if (!cache) return "the frozen first conv is not cached (fast kernels, a frozen first layer, first_conv_cache_mb)";
  const Parts p = parts_of(*setup.model);
  if (!p.core || !p.layer0) return "the core is not a two-layer minimodel core";
  if (!p.readout) return "the readout is not rank1";
  const auto& o = p.core->options();
  if (!p.layer0->starts_from_pooled() || !plain_batch_norm(p.layer0->norm)) return "layer0 is not conv, BN, max pool";
  if (!o.depth_separable || p.layer1->out_depth_conv || !plain_batch_norm(p.layer1->norm) ||
      !plain_conv(p.layer1->in_depth_conv, 1, 1) ||
      !plain_conv(p.layer1->spatial_conv, o.n_conv_mid, o.kernel_size.at(1)))
    return "layer1 is not minimodel's depthwise-separable layer without out_1x1";
  const auto& t = setup.options;
  if (t.lr_schedule != "periods" || t.optimizer != "adamw" || t.accumulate_grad_batches != 1 ||
      t.grad_clip_norm != 0 || t.min_delta != 0 || t.precision != Precision::float32)
    return "the schedule is not minimodel's (periods, AdamW, float32)";
  return "";
}

void fit_minimodels_batched(size_t count, int64_t slots, const MinimodelSetupFactory& make_setup,
                            const MinimodelFinished& finished, bool show_progress) {
  check(slots >= 1, "--batch-minimodels", "must be at least 1");
  std::deque<size_t> queue;
  for (size_t i = 0; i < count; ++i) queue.push_back(i);
  std::vector<std::unique_ptr<Slot>> active;
  std::unique_ptr<Pass> pass;
  std::vector<int64_t> periods;

  // fit()'s entry into a period: the best state restored, patience reset, a
  // fresh optimiser at the period's rate. Periods without epochs are passed
  // (entering them changes nothing the next entry does not redo). False
  // when the schedule is done.
  auto enter_period = [&](Slot& s, size_t period) {
    const auto& o = s.setup.options;
    while (period < periods.size() && periods[period] == 0) ++period;
    if (period >= periods.size()) return false;
    s.period = period;
    s.epoch_in_period = 0;
    if (period > 0 && o.restore_best_each_period && !s.best.empty()) restore(s.state, s.best);
    if (!o.patience_across_periods) s.since_best = 0;
    const double lr = o.lr * std::pow(o.period_lr_factor, static_cast<double>(period));
    s.optimizer = make_optimizer(*s.task, lr, o);
    return true;
  };
  auto finish = [&](Slot& s) {
    if (!s.diverged) {
      s.result.stop_reason = "schedule finished";
      if (!s.early_stopped_periods.empty()) {
        s.result.stop_reason += " (early stopping in period";
        for (auto p : s.early_stopped_periods) s.result.stop_reason += " " + std::to_string(p);
        s.result.stop_reason += ")";
      }
    }
    if (!s.result.has_best() && s.result.epochs_run > 0) {
      const std::string none = "no finite validation score (val_varexp was nan or inf in every epoch)";
      spdlog::warn("minimodel {}: {}; the model is the last epoch's", s.index + 1, none);
      s.result.stop_reason += "; " + none;
    }
    if (!s.best.empty()) restore(s.state, s.best);
    s.optimizer.reset();
    auto model = s.setup.model;
    model->to(torch::kCPU);
    model->eval();
    record_v1_result(*model, s.result);
    finished(s.index, V1TrainingRun{model, s.result});
  };
  auto take_next = [&]() -> std::unique_ptr<Slot> {
    while (!queue.empty()) {
      auto s = std::make_unique<Slot>();
      s->index = queue.front();
      queue.pop_front();
      s->setup = make_setup(s->index);
      s->setup.model->to(s->setup.device);
      s->task = std::make_unique<V1Task>(s->setup.model, s->setup.data, s->setup.recipe, s->setup.device);
      const std::string why = batched_minimodels_unsupported(s->setup, s->task->first_conv_cache().get());
      if (!why.empty()) fail("minimodels in one pass", why);
      s->parts = parts_of(*s->setup.model);
      s->state = state_of(*s->setup.model);
      if (!pass) {
        pass = std::make_unique<Pass>(s->task->first_conv_cache(), s->parts.core->options().activation);
        periods = s->setup.options.period_epochs;
      }
      check(s->setup.options.period_epochs == periods, "minimodels in one pass", "the minimodels' schedules differ");
      if (enter_period(*s, 0)) return s;
      finish(*s);  // a schedule without epochs
    }
    return nullptr;
  };
  auto fill = [&] {
    while (static_cast<int64_t>(active.size()) < slots)
      if (auto s = take_next()) active.push_back(std::move(s));
      else break;
  };

  fill();
  int64_t round = 0;
  while (!active.empty()) {
    std::vector<Slot*> ss;
    for (auto& s : active) ss.push_back(s.get());
    const int64_t K = static_cast<int64_t>(ss.size());
    // Each slot's batches of its own epoch; one gather for all when their epochs agree.
    std::vector<std::vector<BatchRef>> batches;
    bool same_epoch = true;
    for (auto* s : ss) {
      batches.push_back(s->task->epoch_batches(s->epoch));
      same_epoch = same_epoch && s->epoch == ss.front()->epoch;
      s->loss_sum = 0;
    }
    const size_t n_batches = batches.front().size();
    for (const auto& b : batches)
      check(b.size() == n_batches, "minimodels in one pass", "the minimodels' training sets differ");
    ProgressBar bar(static_cast<int64_t>(n_batches),
                    "minimodels: round " + std::to_string(round + 1) + ", " + std::to_string(K) + " in training",
                    show_progress);
    for (auto* s : ss) s->optimizer->zero_grad();
    for (size_t b = 0; b < n_batches; ++b) {
      std::vector<at::Tensor> trials;
      if (same_epoch) trials.push_back(batches.front()[b].indices);
      else
        for (int64_t k = 0; k < K; ++k) trials.push_back(batches[k][b].indices);
      const auto& data = ss.front()->setup.data;
      const auto device = ss.front()->setup.device;
      at::Tensor pred = pass->forward(ss, trials, /*training=*/true);
      at::Tensor target = gather_columns(ss, trials, &V1TrainingData::responses).to(device);
      // v1_loss per slot (each minimodel has one neuron: its mean over neurons is its own term).
      at::Tensor per_slot = data.real_responses.defined()
                                ? masked_poisson_per_neuron(
                                      pred, target, gather_columns(ss, trials, &V1TrainingData::real_responses).to(device))
                                : (pred - target * torch::log(pred)).sum(0);
      const double hs = ss.front()->setup.recipe.hoyer_square;
      if (hs != 0.0) {
        std::vector<at::Tensor> penalties;
        for (auto* s : ss) penalties.push_back(s->parts.readout->hoyer_square());
        per_slot = per_slot + hs * torch::cat(penalties);
      }
      per_slot.sum().backward();
      const at::Tensor values = per_slot.detach().to(torch::kCPU, torch::kFloat64).contiguous();
      for (int64_t k = 0; k < K; ++k) {
        Slot& s = *ss[k];
        if (s.diverged) continue;
        const double value = values.data_ptr<double>()[k];
        if (!std::isfinite(value)) {
          s.diverged = true;
          s.diverged_reason = "the loss became " + std::string(std::isnan(value) ? "NaN" : "infinite") +
                              " at epoch " + std::to_string(s.epoch + 1) + ", batch " + std::to_string(b + 1);
          continue;
        }
        s.optimizer->step();
        s.task->after_step();
        s.optimizer->zero_grad();
        s.loss_sum += value;
      }
      bar.update(static_cast<int64_t>(b + 1));
    }
    bar.finish();

    // Validation of every slot at once (eval mode: BN's running statistics).
    std::vector<at::Tensor> preds;
    {
      torch::NoGradGuard no_grad;
      const auto& d = ss.front()->setup.data;
      const int64_t batch_size = ss.front()->setup.recipe.batch_size;
      for (int64_t start = 0; start < d.val_trials.size(0); start += batch_size) {
        at::Tensor idx = d.val_trials.narrow(0, start, std::min(batch_size, d.val_trials.size(0) - start));
        preds.push_back(pass->forward(ss, {idx}, /*training=*/false).to(torch::kCPU));
      }
    }
    const at::Tensor val_pred = torch::cat(preds, 0);
    const std::vector<at::Tensor> val_trials = {ss.front()->setup.data.val_trials};
    const at::Tensor val_target = gather_columns(ss, val_trials, &V1TrainingData::responses);
    const at::Tensor val_real = ss.front()->setup.data.real_responses.defined()
                                    ? gather_columns(ss, val_trials, &V1TrainingData::real_responses)
                                    : at::Tensor();

    // fit()'s bookkeeping, per slot.
    std::vector<std::unique_ptr<Slot>> still;
    for (int64_t k = 0; k < K; ++k) {
      auto& s = *ss[k];
      const auto& o = s.setup.options;
      if (s.diverged) {
        s.result.stop_reason = s.diverged_reason;
        if (s.best.empty())
          fail("training", s.diverged_reason + " before any epoch finished; lower the learning rate or check the data");
        spdlog::warn("minimodel {}: {}; keeping the best state (epoch {})", s.index + 1, s.diverged_reason,
                     s.result.best_epoch + 1);
        finish(s);
        continue;
      }
      const at::Tensor p = val_pred.narrow(1, k, 1), y = val_target.narrow(1, k, 1);
      const double score = val_real.defined() ? masked_variance_explained(p, y, val_real.narrow(1, k, 1))
                                              : mean_variance_explained(p, y);
      if (std::isfinite(score) && (!s.result.has_best() || score > s.result.best_score)) {
        s.result.best_score = score;
        s.result.best_epoch = s.epoch;
        s.best = copy_of(s.state);
      }
      if (std::isfinite(score) && score > s.best_for_patience + o.min_delta) {
        s.best_for_patience = score;
        s.since_best = 0;
      } else {
        ++s.since_best;
      }
      s.result.epochs_run = s.epoch + 1;
      spdlog::debug("minimodel {}: epoch {} period {} loss {:.4f} val_varexp {} best {}", s.index + 1, s.epoch + 1,
                    s.period + 1, s.loss_sum / static_cast<double>(n_batches), score_text(score),
                    s.result.has_best() ? score_text(s.result.best_score) : "none yet");
      const bool stop_period = o.patience > 0 && s.since_best >= o.patience;
      if (stop_period) s.early_stopped_periods.push_back(static_cast<int64_t>(s.period + 1));
      ++s.epoch;
      ++s.epoch_in_period;
      if ((stop_period || s.epoch_in_period == periods[s.period]) && !enter_period(s, s.period + 1)) {
        finish(s);
        continue;
      }
      still.push_back(std::move(active[k]));
    }
    active = std::move(still);
    fill();
    ++round;
  }
}

}  // namespace fovea::train
