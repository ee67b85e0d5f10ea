#pragma once
// The trainer's checkpoint: everything fit() needs to continue a run that was
// killed, so that the continued run ends bit for bit where an uninterrupted
// one would (on the CPU, same threads): the model's parameters and buffers,
// the best state so far, the optimiser's state and its groups' learning rates
// and momenta, the learning-rate scheduler's counters, the early-stopping and
// plateau bookkeeping, the global random generator (dropout) and the metrics
// CSV so far. The batches need nothing: each task draws an epoch's order from
// the run's seed and the epoch number (V1Task, RetinaTask), or from the global
// generator, whose state at the epoch's start a checkpoint inside an epoch
// keeps besides the current one.
//
// Inside an epoch (TrainerOptions::checkpoint_every), a checkpoint follows an
// optimiser step and records the batch the epoch goes on with, the sum of its
// losses so far and the run's optimiser steps; a step-interval scheduler's
// count is in the scheduler's counters, and the accumulated gradients are zero.
//
// One file, LibTorch's own archive format (torch::serialize, as torch::save
// writes), replaced atomically: a kill leaves the previous checkpoint or this
// one, never a mix.
#include <torch/optim/optimizer.h>
#include <torch/serialize/input-archive.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace torch::nn {
class Module;
}

namespace fovea::train {

class LrScheduler;

// A model's parameters and buffers by name (copies).
using ModelState = std::vector<std::pair<std::string, at::Tensor>>;
ModelState copy_state(const torch::nn::Module& model);
// The same without copying (detached views), to write at once.
ModelState state_view(const torch::nn::Module& model);
void restore_state(torch::nn::Module& model, const ModelState& state);

// The parameters that hold a gradient (zeros between optimiser steps), and
// zero gradients for them again: optimisers skip a parameter whose gradient
// is undefined but step one whose gradient is zero (momentum, weight decay),
// as a session's readout is stepped while another session's batches train.
std::vector<std::string> params_with_grad(const torch::nn::Module& model);
void give_zero_grads(torch::nn::Module& model, const std::vector<std::string>& names);

// fit()'s bookkeeping after a finished epoch.
struct FitProgress {
  int64_t next_epoch = 0;          // 0-based over all periods
  int64_t period = 0;              // the period the epoch belonged to
  int64_t next_epoch_in_period = 0;
  bool period_done = false;        // the period ended (schedule or early stopping)
  double lr = 0;                   // the rate the next epoch of this period starts with
  int64_t since_best = 0;
  double best_for_patience = 0, plateau_best = 0;
  int64_t plateau_bad_epochs = 0;
  std::vector<int64_t> early_stopped_periods;
  double best_score = 0;
  int64_t best_epoch = -1, epochs_run = 0;
  std::string metrics_csv;         // the CSV's text so far
  ModelState model, best;
  std::vector<std::string> params_with_grad;
  int64_t steps = 0;               // optimiser steps of the run so far
  // Inside epoch next_epoch (next_batch > 0): the batch it goes on with, the
  // sum of the losses before it, its seconds so far, and the global generator
  // as its batches were drawn.
  int64_t next_batch = 0;
  double loss_sum = 0, epoch_seconds = 0;
  at::Tensor epoch_generator;
};

// The global CPU generator's state, and setting it.
at::Tensor generator_state();
void set_generator_state(const at::Tensor& state);

// Writes `progress`, the optimiser (null when the period is done: the next
// period starts a fresh one) and the scheduler (null: none), and the global
// CPU generator's state to `path`, atomically.
void write_checkpoint(const std::string& path, const FitProgress& progress, const torch::optim::Optimizer* optimizer,
                      const LrScheduler* scheduler);

// A checkpoint read back: the bookkeeping at once, the optimiser and
// scheduler once fit() has made them for the period.
class LoadedCheckpoint {
 public:
  // Reads `path`; errors name the file.
  explicit LoadedCheckpoint(const std::string& path);
  const FitProgress& progress() const { return progress_; }
  void load_optimizer(torch::optim::Optimizer& optimizer, const std::string& kind);
  void load_scheduler(LrScheduler& scheduler);
  // Sets the global CPU generator as it was; called last, right before the
  // next epoch, since making the optimiser or scheduler may draw from it.
  void restore_generator();

 private:
  std::string path_;
  FitProgress progress_;
  std::unique_ptr<torch::serialize::InputArchive> archive_;
  at::Tensor generator_state_;
};

}  // namespace fovea::train
