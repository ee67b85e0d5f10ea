#pragma once
// The generic trainer. A TrainingTask supplies the batches, the loss, the
// validation score and the optimiser's parameter groups; the trainer runs the
// schedule: learning-rate periods (minimodel) with the best state restored at
// each period, early stopping on the validation score, optional gradient
// clipping, a progress bar, and one row per epoch in a metrics CSV. Besides
// those it runs what openretina's configs ask of Lightning: AdamW or SGD,
// PyTorch's learning-rate schedulers (lr_schedulers.h), and gradient
// accumulation over batches.
#include <torch/optim/optimizer.h>

#include "fovea/train/lr_schedulers.h"
#include "fovea/train/precision.h"

#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

namespace torch::nn {
class Module;
}

namespace fovea::train {

class DataParallel;  // data_parallel.h

// One batch: which session and which samples of it.
struct BatchRef {
  std::string data_key;
  at::Tensor indices;
};

class TrainingTask {
 public:
  virtual ~TrainingTask() = default;
  // The batches of one epoch, in order (shuffled by the task from its seed and the epoch).
  virtual std::vector<BatchRef> epoch_batches(int64_t epoch) = 0;
  // The training loss of one batch (model in train mode), with regularisers.
  virtual at::Tensor batch_loss(const BatchRef& batch) = 0;
  // The validation score (model in eval mode, no gradients).
  virtual double validation_score() = 0;
  virtual std::string score_name() const { return "val_score"; }
  // Whether a higher score is better (a correlation) or a lower one (a loss):
  // the best state, early stopping and the plateau scheduler follow it, as
  // Lightning's monitors do with mode max / min. Logs and the CSV show the
  // score itself.
  virtual bool higher_is_better() const { return true; }
  // Parameter groups with their weight decay; frozen parameters are left out.
  virtual std::vector<torch::optim::OptimizerParamGroup> param_groups() = 0;
  // Called after every optimiser step (e.g. clamping weights to be non-negative).
  virtual void after_step() {}
  // The number of batches in an epoch (OneCycleLR's total steps come from it);
  // by default the size of epoch 0's list.
  virtual int64_t batches_per_epoch() { return static_cast<int64_t>(epoch_batches(0).size()); }
  // Data-parallel training (data_parallel.h). The loss of `part` (some of
  // batch.indices) as its share of batch_loss(batch) without the weight
  // regularisers: over a partition of the batch the shares add up to the
  // batch's loss less batch_regularizer(batch), which one worker adds.
  // A task that cannot split its batches keeps the defaults, which refuse.
  virtual at::Tensor batch_loss_share(const BatchRef& batch, const at::Tensor& part);
  virtual at::Tensor batch_regularizer(const BatchRef& batch);
};

// One finished epoch, as its row of the metrics CSV; given to
// TrainerOptions::on_epoch so that callers (the API, Python) can show
// progress and collect the metrics without reading the CSV back.
struct EpochRecord {
  int64_t epoch = 0;         // 1-based over all periods
  int64_t period = 0;        // 1-based
  int64_t max_epochs = 0;    // epochs the schedule allows (early stopping may end it sooner)
  double lr = 0, train_loss = 0;
  double score = 0, best_score = 0;  // validation score; best so far (NaN: none finite yet)
  std::string score_name;
  double seconds = 0;
};
using EpochCallback = std::function<void(const EpochRecord&)>;

struct TrainerOptions {
  std::vector<int64_t> period_epochs = {100, 30, 30, 30};  // minimodel's schedule
  double lr = 1e-3;
  double period_lr_factor = 1.0 / 3.0;  // lr of period p = lr * factor^p
  bool restore_best_each_period = true;
  int64_t patience = 5;                 // epochs without improvement before a period stops (0: never)
  // minimodel keeps one patience counter across periods, so every period after
  // the first stops at its first non-improving epoch. fovea resets it per
  // period unless this is set (to reproduce the reference exactly).
  bool patience_across_periods = false;
  double min_delta = 0.0;               // improvement needed to reset patience
  // "periods": minimodel's fixed periods (above). "plateau": openretina's
  // recipe: one run of max_epochs, the learning rate multiplied by
  // plateau_factor when the score has not risen by plateau_threshold
  // (absolute) for more than plateau_patience epochs, never below min_lr.
  // One of lr_scheduler_names() (one_cycle, cosine_annealing, ...): one run
  // of max_epochs with that PyTorch scheduler, configured by `lr_scheduler`
  // (its `name` is set from lr_schedule).
  std::string lr_schedule = "periods";
  LrSchedulerOptions lr_scheduler;
  int64_t max_epochs = 100;
  double plateau_factor = 0.3;
  int64_t plateau_patience = 5;
  double plateau_threshold = 5e-4;
  double min_lr = 0.0;
  double grad_clip_norm = 0.0;          // 0: no clipping
  // "adamw" (torch.optim.AdamW: betas, eps) or "sgd" (torch.optim.SGD:
  // momentum, dampening, nesterov); each group keeps the task's weight decay.
  std::string optimizer = "adamw";
  double adam_beta1 = 0.9, adam_beta2 = 0.999, adam_eps = 1e-8;
  double momentum = 0.0, dampening = 0.0;
  bool nesterov = false;
  // Lightning's accumulate_grad_batches: the gradients of this many batches
  // (each loss divided by it, as Lightning does) make one optimiser step; the
  // last step of an epoch may have fewer. Clipping applies to the sum.
  int64_t accumulate_grad_batches = 1;
  std::string metrics_csv;              // "" : none
  // After every epoch, the whole training state is written to `checkpoint`
  // ("" : none), atomically; with `resume`, fit() continues from it when it
  // exists (src/train/checkpoint.h): the result equals an uninterrupted run's.
  std::string checkpoint;
  bool resume = false;
  // Also write the checkpoint after every this many optimiser steps (counted
  // over the whole run) inside an epoch (0: at the ends of epochs only); a
  // run resumed from one continues with the epoch's next batch.
  int64_t checkpoint_every = 0;
  // The precision of the model's forward in training and validation
  // (precision.h: bf16 autocast, with the loss and optimiser in float32);
  // the tasks run their forward through autocast_forward.
  Precision precision = Precision::float32;
  bool show_progress = true;
  EpochCallback on_epoch;               // called after every epoch's validation
  // Submodules kept in eval mode while the model trains (a frozen core's
  // BatchNorm statistics: transfer.h's only_train_readout).
  std::vector<std::shared_ptr<torch::nn::Module>> eval_mode_modules;
  // In a data-parallel worker (data_parallel.h): each batch's share, the
  // gradients summed over the workers, rank 0's outputs only. Null: one process.
  std::shared_ptr<DataParallel> data_parallel;
};

// Where a training run writes as it goes: the per-epoch metrics CSV and the
// checkpoint ("" : none), and whether to continue from that checkpoint.
// Converts from a metrics CSV path, which is all most callers give.
struct RunFiles {
  RunFiles() = default;
  RunFiles(std::string metrics) : metrics_csv(std::move(metrics)) {}  // NOLINT: implicit on purpose
  RunFiles(const char* metrics) : metrics_csv(metrics) {}              // NOLINT
  std::string metrics_csv, checkpoint;
  bool resume = false;
  int64_t checkpoint_every = 0;  // TrainerOptions::checkpoint_every
  std::shared_ptr<DataParallel> data_parallel;  // TrainerOptions::data_parallel
  void apply_to(TrainerOptions& o) const {
    o.metrics_csv = metrics_csv;
    o.checkpoint = checkpoint;
    o.resume = resume;
    o.checkpoint_every = checkpoint_every;
    o.data_parallel = data_parallel;
  }
};

struct TrainingResult {
  // The best finite validation score; NaN (and best_epoch -1) when no epoch
  // had a finite one (see has_best).
  double best_score = std::numeric_limits<double>::quiet_NaN();
  int64_t best_epoch = -1;  // 0-based over all periods
  int64_t epochs_run = 0;
  std::string stop_reason;  // "schedule finished", "early stopping in period 2", "loss became NaN ..."
  std::string score_name;   // the task's score_name(): what best_score is
  double seconds = 0.0;
  bool has_best() const { return best_epoch >= 0; }
};

// A validation score for logs and tables: 4 decimals, or nan / inf / -inf.
std::string score_text(double score);

// Trains `model` in place; on return it holds the best state on the validation score.
TrainingResult fit(torch::nn::Module& model, TrainingTask& task, const TrainerOptions& options);

// The pieces of fit(), for benchmarks and custom loops.
// The optimiser `options.optimizer` names (AdamW or SGD) over the task's
// parameter groups at learning rate `lr`.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(TrainingTask& task, double lr, const TrainerOptions& options);
struct EpochStats {
  double mean_loss = 0.0;
  bool diverged = false;   // a non-finite loss stopped the epoch
  std::string reason;      // why it diverged
};
// Where an epoch stands, for checkpoints inside it: the batch it goes on
// with and the sum of the losses before that one. Checkpoints are taken right
// after an optimiser step, where the accumulated gradients are zero, so the
// batch index also gives the accumulation count (batch % accumulate_grad_batches).
struct EpochCursor {
  int64_t next_batch = 0;
  double loss_sum = 0.0;
  int64_t steps = 0;  // optimiser steps of the whole run so far
  // Called once the epoch's batches are drawn (a resumed run sets the random
  // generator to where the killed run was), and after every optimiser step
  // but the epoch's last, with the cursor past that step.
  std::function<void()> on_batches;
  std::function<void(const EpochCursor&)> on_step;
};
// One pass over the task's batches for `epoch` (model in train mode), one
// optimiser step per options.accumulate_grad_batches batches; `step_scheduler`
// (if given) is told of every optimiser step (a scheduler with interval "step").
// With a `cursor`, the pass starts at its batch and keeps it up to date.
EpochStats train_one_epoch(torch::nn::Module& model, TrainingTask& task, torch::optim::Optimizer& optimizer,
                           int64_t epoch, const TrainerOptions& options, const std::string& label = "",
                           LrScheduler* step_scheduler = nullptr, EpochCursor* cursor = nullptr);

}  // namespace fovea::train
