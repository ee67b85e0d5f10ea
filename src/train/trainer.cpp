// The generic training loop: periods of AdamW with decaying learning rate,
// best-on-validation state restored at each period, early stopping; or one
// run with ReduceLROnPlateau or one of PyTorch's schedulers; AdamW or SGD;
// gradient accumulation.
#include "fovea/train/trainer.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <limits>
#include <memory>
#include <filesystem>
#include <sstream>

#include "fovea/error.h"
#include "fovea/io/atomic_file.h"
#include "fovea/train/data_parallel.h"
#include "fovea/train/progress.h"
#include "checkpoint.h"

namespace fovea::train {

namespace {

// The metrics CSV is rewritten atomically after every epoch, so it is
// complete at any moment and never half-written.
class MetricsCsv {
 public:
  MetricsCsv(std::string path, const std::string& score_name) : path_(std::move(path)) {
    text_ = "epoch,period,lr,train_loss," + score_name + ",best_" + score_name + ",seconds\n";
  }
  void add(int64_t epoch, int64_t period, double lr, double loss, double score, double best, double seconds) {
    if (path_.empty()) return;
    std::ostringstream row;
    row << epoch << "," << period << "," << std::setprecision(6) << lr << "," << std::setprecision(8) << loss << ","
        << score << "," << best << "," << std::setprecision(4) << seconds << "\n";  // NaN/inf as nan, inf, -inf
    text_ += row.str();
    io::write_file_atomic(path_, text_);
  }
  const std::string& text() const { return text_; }
  void set_text(std::string text) { text_ = std::move(text); }

 private:
  std::string path_;
  std::string text_;
};

}  // namespace

std::string score_text(double score) {
  if (std::isnan(score)) return "nan";
  if (std::isinf(score)) return score > 0 ? "inf" : "-inf";
  std::ostringstream s;
  s << std::fixed << std::setprecision(4) << score;
  return s.str();
}

namespace {
// A group's weight decay, whichever optimiser's options the task gave it.
double group_weight_decay(const torch::optim::OptimizerOptions& o) {
  if (auto* a = dynamic_cast<const torch::optim::AdamWOptions*>(&o)) return a->weight_decay();
  if (auto* s = dynamic_cast<const torch::optim::SGDOptions*>(&o)) return s->weight_decay();
  if (auto* b = dynamic_cast<const torch::optim::AdamOptions*>(&o)) return b->weight_decay();
  return 0.0;
}
}  // namespace

std::unique_ptr<torch::optim::Optimizer> make_optimizer(TrainingTask& task, double lr, const TrainerOptions& options) {
  auto groups = task.param_groups();
  if (options.optimizer == "sgd") {
    check(options.momentum >= 0 && options.dampening >= 0, "training option 'momentum'",
          "momentum and dampening must be >= 0");
    // torch.optim.SGD refuses nesterov without momentum or with dampening.
    check(!options.nesterov || (options.momentum > 0 && options.dampening == 0), "training option 'nesterov'",
          "Nesterov momentum requires a momentum and zero dampening");
    auto sgd = [&](double wd) {
      return torch::optim::SGDOptions(lr).momentum(options.momentum).dampening(options.dampening).nesterov(options.nesterov).weight_decay(wd);
    };
    std::vector<torch::optim::OptimizerParamGroup> sgd_groups;
    for (auto& g : groups)
      sgd_groups.emplace_back(g.params(), std::make_unique<torch::optim::SGDOptions>(sgd(group_weight_decay(g.options()))));
    return std::make_unique<torch::optim::SGD>(sgd_groups, sgd(0.0));
  }
  check(options.optimizer == "adamw", "training option 'optimizer'",
        "must be adamw or sgd, got '" + options.optimizer + "'");
  for (auto& g : groups) {
    auto& o = static_cast<torch::optim::AdamWOptions&>(g.options());
    o.lr(lr).betas({options.adam_beta1, options.adam_beta2}).eps(options.adam_eps);
  }
  auto defaults = torch::optim::AdamWOptions(lr).betas({options.adam_beta1, options.adam_beta2}).eps(options.adam_eps);
  return std::make_unique<torch::optim::AdamW>(groups, defaults);
}

EpochStats train_one_epoch(torch::nn::Module& model, TrainingTask& task, torch::optim::Optimizer& optimizer,
                           int64_t epoch, const TrainerOptions& options, const std::string& label,
                           LrScheduler* step_scheduler, EpochCursor* cursor) {
  check(options.accumulate_grad_batches >= 1, "training option 'accumulate_grad_batches'", "must be at least 1");
  const int64_t accumulate = options.accumulate_grad_batches;
  EpochStats stats;
  model.train();
  for (const auto& m : options.eval_mode_modules) m->eval();
  std::vector<at::Tensor> params;
  for (auto& g : optimizer.param_groups())
    for (auto& p : g.params()) params.push_back(p);
  auto batches = task.epoch_batches(epoch);
  ProgressBar bar(static_cast<int64_t>(batches.size()), label.empty() ? "epoch " + std::to_string(epoch + 1) : label,
                  options.show_progress);
  if (cursor && cursor->on_batches) cursor->on_batches();
  double loss_sum = cursor ? cursor->loss_sum : 0.0;
  optimizer.zero_grad();
  for (size_t b = cursor ? static_cast<size_t>(cursor->next_batch) : 0; b < batches.size(); ++b) {
    at::Tensor loss;
    double value = 0.0;
    if (DataParallel* dp = options.data_parallel.get()) {
      // This worker's share, backpropagated; at the step, the summed loss of
      // the step's batches over every worker (0 before it).
      PrecisionScope precision(options.precision);
      const bool last = (static_cast<int64_t>(b) + 1) % accumulate == 0 || b + 1 == batches.size();
      value = dp->train_batch(task, batches[b], accumulate, last ? &params : nullptr);
    } else {
      loss = [&] {
        PrecisionScope precision(options.precision);  // the task's autocast_forward
        return task.batch_loss(batches[b]);
      }();
      value = loss.item<double>();
    }
    if (!std::isfinite(value)) {
      stats.diverged = true;
      stats.reason = "the loss became " + std::string(std::isnan(value) ? "NaN" : "infinite") + " at epoch " +
                     std::to_string(epoch + 1) + ", batch " + std::to_string(b + 1);
      bar.finish("diverged");
      return stats;
    }
    // Lightning divides each loss by accumulate_grad_batches, so k batches'
    // gradients add up to their mean (the last group of an epoch included).
    if (loss.defined()) (accumulate > 1 ? loss / static_cast<double>(accumulate) : loss).backward();
    const bool step_now = (static_cast<int64_t>(b) + 1) % accumulate == 0 || b + 1 == batches.size();
    loss_sum += value;
    if (step_now) {
      if (options.grad_clip_norm > 0) torch::nn::utils::clip_grad_norm_(params, options.grad_clip_norm);
      optimizer.step();
      task.after_step();
      optimizer.zero_grad();
      if (step_scheduler) step_scheduler->interval_done();
      if (cursor) {
        cursor->next_batch = static_cast<int64_t>(b) + 1;
        cursor->loss_sum = loss_sum;
        ++cursor->steps;
        if (cursor->on_step && b + 1 < batches.size()) cursor->on_step(*cursor);
      }
    }
    bar.update(static_cast<int64_t>(b + 1), "loss " + std::to_string(value));
  }
  stats.mean_loss = batches.empty() ? 0.0 : loss_sum / static_cast<double>(batches.size());
  bar.finish("loss " + std::to_string(stats.mean_loss));
  return stats;
}

TrainingResult fit(torch::nn::Module& model, TrainingTask& task, const TrainerOptions& options) {
  TrainingResult result;
  result.score_name = task.score_name();
  // A data-parallel worker but rank 0 trains and validates as rank 0 does
  // (and reads a checkpoint to resume from), but writes nothing.
  const bool writes = !options.data_parallel || options.data_parallel->writes_outputs();
  MetricsCsv csv(writes ? options.metrics_csv : "", task.score_name());
  const auto start = std::chrono::steady_clock::now();
  ModelState best_state;
  int64_t epoch = 0;
  int64_t since_best = 0;
  bool stop_all = false;
  std::vector<int64_t> early_stopped_periods;

  const auto& scheduler_names = lr_scheduler_names();
  const bool torch_scheduler =
      std::find(scheduler_names.begin(), scheduler_names.end(), options.lr_schedule) != scheduler_names.end();
  if (options.lr_schedule != "periods" && options.lr_schedule != "plateau" && !torch_scheduler)
    fail("training option 'lr_schedule'",
         "must be periods, plateau, one_cycle, cosine_annealing, cosine_annealing_warm_restarts, step, multi_step or "
         "exponential, got '" + options.lr_schedule + "'");
  const bool plateau = options.lr_schedule == "plateau";
  const std::vector<int64_t> periods =
      plateau || torch_scheduler ? std::vector<int64_t>{options.max_epochs} : options.period_epochs;
  constexpr double kNone = -std::numeric_limits<double>::infinity();  // no finite score yet
  const bool higher_is_better = task.higher_is_better();
  auto gain_of = [higher_is_better](double score) { return higher_is_better ? score : -score; };
  double best_for_patience = kNone;
  double plateau_best = kNone;
  int64_t plateau_bad_epochs = 0;

  // Where the run stands inside an epoch (checkpoints every checkpoint_every
  // optimiser steps), and the global generator as the epoch's batches were
  // drawn: a task may draw them from it, and a run resumed inside the epoch
  // draws them again from there.
  EpochCursor cursor;
  at::Tensor epoch_generator;
  const bool step_checkpoints = options.checkpoint_every > 0 && !options.checkpoint.empty();
  check(options.checkpoint_every >= 0, "training option 'checkpoint_every'", "must be 0 (epochs only) or positive");

  // Continuing a killed run: everything as it was after its last finished
  // epoch, or after the optimiser step its last checkpoint followed.
  std::unique_ptr<LoadedCheckpoint> resumed;
  size_t first_period = 0;
  int64_t first_epoch_in_period = 0;
  bool resume_in_epoch = false;
  if (options.resume && !options.checkpoint.empty() && std::filesystem::exists(options.checkpoint)) {
    resumed = std::make_unique<LoadedCheckpoint>(options.checkpoint);
    const FitProgress& p = resumed->progress();
    restore_state(model, p.model);
    give_zero_grads(model, p.params_with_grad);
    best_state = p.best;
    epoch = p.next_epoch;
    since_best = p.since_best;
    best_for_patience = p.best_for_patience;
    plateau_best = p.plateau_best;
    plateau_bad_epochs = p.plateau_bad_epochs;
    early_stopped_periods = p.early_stopped_periods;
    result.best_score = p.best_score;
    result.best_epoch = p.best_epoch;
    result.epochs_run = p.epochs_run;
    csv.set_text(p.metrics_csv);
    first_period = static_cast<size_t>(p.period) + (p.period_done ? 1 : 0);
    first_epoch_in_period = p.period_done ? 0 : p.next_epoch_in_period;
    cursor.steps = p.steps;
    resume_in_epoch = p.next_batch > 0;
    if (resume_in_epoch)
      spdlog::info("resuming from {} in epoch {} at batch {}", options.checkpoint, p.next_epoch + 1, p.next_batch + 1);
    else
      spdlog::info("resuming from {} after epoch {}", options.checkpoint, p.next_epoch);
  }

  for (size_t period = first_period; period < periods.size() && !stop_all; ++period) {
    // A period continued mid-way keeps the optimiser state, rate and patience it had.
    const bool continued = resumed && period == first_period && (first_epoch_in_period > 0 || resume_in_epoch);
    if (period > 0 && options.restore_best_each_period && !best_state.empty() && !continued)
      restore_state(model, best_state);
    if (!options.patience_across_periods && !continued) since_best = 0;
    double lr = options.lr * std::pow(options.period_lr_factor, static_cast<double>(period));
    // A fresh optimiser each period, as minimodel does.
    auto optimizer = make_optimizer(task, lr, options);
    std::unique_ptr<LrScheduler> scheduler;
    if (torch_scheduler) {
      LrSchedulerOptions so = options.lr_scheduler;
      so.name = options.lr_schedule;
      if (so.name == "one_cycle" && so.total_steps == 0) {
        // Lightning's estimated_stepping_batches: optimiser steps per epoch × max_epochs.
        const int64_t a = std::max<int64_t>(1, options.accumulate_grad_batches);
        so.total_steps = (task.batches_per_epoch() + a - 1) / a * options.max_epochs;
      }
      scheduler = std::make_unique<LrScheduler>(*optimizer, so);
    }
    LrScheduler* step_scheduler = scheduler && scheduler->options().interval == "step" ? scheduler.get() : nullptr;
    if (continued) {
      resumed->load_optimizer(*optimizer, options.optimizer);
      if (scheduler) resumed->load_scheduler(*scheduler);
      lr = resumed->progress().lr;
    }
    if (resumed && period == first_period) {
      if (!resume_in_epoch) resumed->restore_generator();
      else {  // the batches are drawn as at the epoch's start, then the generator is where the kill left it
        set_generator_state(resumed->progress().epoch_generator);
        cursor.on_batches = [&resumed] { resumed->restore_generator(); };
      }
    }
    // The checkpoint's bookkeeping, as it stands after epoch `e` of the
    // period (within: before it, at the cursor).
    auto progress_now = [&](int64_t e, bool within, bool stop_period) {
      FitProgress p;
      p.next_epoch = within ? epoch : epoch + 1;
      p.period = static_cast<int64_t>(period);
      p.next_epoch_in_period = within ? e : e + 1;
      p.period_done = !within && (stop_period || e + 1 == periods[period]);
      p.lr = scheduler && !within ? scheduler->lr() : lr;  // within: the epoch's own rate (its CSV row)
      p.since_best = since_best;
      p.best_for_patience = best_for_patience;
      p.plateau_best = plateau_best;
      p.plateau_bad_epochs = plateau_bad_epochs;
      p.early_stopped_periods = early_stopped_periods;
      p.best_score = result.best_score;
      p.best_epoch = result.best_epoch;
      p.epochs_run = result.epochs_run;
      p.metrics_csv = csv.text();
      p.model = state_view(model);
      p.params_with_grad = params_with_grad(model);
      p.best = best_state;
      p.steps = cursor.steps;
      if (within) {
        p.next_batch = cursor.next_batch;
        p.loss_sum = cursor.loss_sum;
        p.epoch_generator = epoch_generator;
      }
      return p;
    };

    for (int64_t e = continued ? first_epoch_in_period : 0; e < periods[period]; ++e, ++epoch) {
      auto epoch_start = std::chrono::steady_clock::now();
      cursor.next_batch = 0;
      cursor.loss_sum = 0.0;
      if (resume_in_epoch) {  // the killed epoch goes on: its rate, position, loss so far and time so far
        const FitProgress& p = resumed->progress();
        cursor.next_batch = p.next_batch;
        cursor.loss_sum = p.loss_sum;
        epoch_start -= std::chrono::duration_cast<std::chrono::steady_clock::duration>(
            std::chrono::duration<double>(p.epoch_seconds));
        epoch_generator = p.epoch_generator;
      } else {
        if (scheduler) lr = scheduler->lr();  // the rate the epoch starts with (the CSV's lr)
        if (step_checkpoints) epoch_generator = generator_state();
      }
      if (step_checkpoints)
        cursor.on_step = [&, e, epoch_start](const EpochCursor& c) {
          if (c.steps % options.checkpoint_every != 0) return;
          FitProgress p = progress_now(e, /*within=*/true, false);
          p.epoch_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start).count();
          if (writes) write_checkpoint(options.checkpoint, p, optimizer.get(), scheduler.get());
        };
      auto stats = train_one_epoch(model, task, *optimizer, epoch, options,
                                   "epoch " + std::to_string(epoch + 1) + " (period " + std::to_string(period + 1) + ")",
                                   step_scheduler, &cursor);
      resume_in_epoch = false;
      cursor.on_batches = nullptr;
      cursor.on_step = nullptr;  // it refers to this period's optimiser
      if (stats.diverged) {
        result.stop_reason = stats.reason;
        if (best_state.empty())
          fail("training", stats.reason + " before any epoch finished; lower the learning rate or check the data");
        spdlog::warn("{}; keeping the best state (epoch {})", stats.reason, result.best_epoch + 1);
        stop_all = true;
        break;
      }
      model.eval();
      if (options.data_parallel) options.data_parallel->broadcast_buffers(model);  // rank 0's BatchNorm statistics
      const double score = [&] {
        PrecisionScope precision(options.precision);
        return task.validation_score();
      }();
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start).count();
      // `gain` is the score turned so that higher is better (minus a loss);
      // best_for_patience and plateau_best hold gains.
      const double gain = gain_of(score);
      // The best state is kept on any improvement; patience counts epochs
      // without an improvement of at least min_delta.
      if (std::isfinite(score) && (!result.has_best() || gain > gain_of(result.best_score))) {
        result.best_score = score;
        result.best_epoch = epoch;
        best_state = copy_state(model);
      }
      if (std::isfinite(score) && gain > best_for_patience + options.min_delta) {
        best_for_patience = gain;
        since_best = 0;
      } else {
        ++since_best;
      }
      result.epochs_run = epoch + 1;
      csv.add(epoch + 1, static_cast<int64_t>(period + 1), lr, stats.mean_loss, score, result.best_score, seconds);
      if (options.on_epoch) {
        int64_t max_epochs = 0;
        for (auto n : periods) max_epochs += n;
        options.on_epoch({epoch + 1, static_cast<int64_t>(period + 1), max_epochs, lr, stats.mean_loss, score,
                          result.best_score, task.score_name(), seconds});
      }
      spdlog::info("epoch {:3d}  period {}  lr {:.2e}  loss {:.4f}  {} {}  best {}  {:.1f}s", epoch + 1, period + 1, lr,
                   stats.mean_loss, task.score_name(), score_text(score),
                   result.has_best() ? score_text(result.best_score) : "none yet", seconds);
      if (plateau) {  // PyTorch's ReduceLROnPlateau, mode max (min for a loss), absolute threshold
        if (std::isfinite(score) && gain > plateau_best + options.plateau_threshold) {
          plateau_best = gain;
          plateau_bad_epochs = 0;
        } else if (++plateau_bad_epochs > options.plateau_patience) {
          const double reduced = std::max(lr * options.plateau_factor, options.min_lr);
          if (reduced < lr) {
            lr = reduced;
            for (auto& g : optimizer->param_groups()) g.options().set_lr(lr);
            spdlog::info("learning rate reduced to {:.2e}", lr);
          }
          plateau_bad_epochs = 0;
        }
      }
      if (scheduler && !step_scheduler) scheduler->interval_done();  // Lightning steps epoch schedulers after validation
      const bool stop_period = options.patience > 0 && since_best >= options.patience;
      if (stop_period) early_stopped_periods.push_back(static_cast<int64_t>(period + 1));
      if (!options.checkpoint.empty() && writes) {
        const FitProgress p = progress_now(e, /*within=*/false, stop_period);
        write_checkpoint(options.checkpoint, p, p.period_done ? nullptr : optimizer.get(),
                         p.period_done ? nullptr : scheduler.get());
      }
      if (stop_period) {
        ++epoch;
        break;
      }
    }
  }
  if (!stop_all) {
    result.stop_reason = "schedule finished";
    if (!early_stopped_periods.empty()) {
      result.stop_reason += " (early stopping in period";
      for (auto p : early_stopped_periods) result.stop_reason += " " + std::to_string(p);
      result.stop_reason += ")";
    }
  }
  if (!result.has_best() && result.epochs_run > 0) {
    const std::string none = "no finite validation score (" + task.score_name() + " was nan or inf in every epoch)";
    spdlog::warn("{}; the model is the last epoch's", none);
    result.stop_reason += "; " + none;
  }
  if (!best_state.empty()) restore_state(model, best_state);
  model.eval();
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace fovea::train
