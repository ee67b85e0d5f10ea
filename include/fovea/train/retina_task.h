#pragma once
// openretina's training recipe for the core-readout retina models
// (models/core_readout.py, data_io/cyclers.py) as a TrainingTask:
//   - batches: each session's training chunks (openretina's MovieSampler:
//     movie_clips.h), batch_size at a time with the last partial batch dropped;
//     sessions interleaved as LongCycler does: a random session order, then
//     round-robin for sessions × (the longest session's batch count) batches,
//     shorter sessions starting a new pass (new shifts) when they run out;
//   - loss: Σ Poisson over (B, T_out, N) against target[:, lag:] (or another
//     of openretina's losses, RetinaRecipe::loss) + the core's regulariser +
//     that session's readout regulariser;
//   - validation score (RetinaRecipe::validation_score): openretina's
//     default val_evaluation_loss, the correlation over time of each (clip,
//     neuron) after the lag, averaged (CorrelationLoss3d with avg=True), per
//     session, then over sessions; or, for models whose clips are too short
//     for a correlation (Goldin 2022's single images), the mean Poisson loss
//     of the validation clips, lower being better (see poisson_validation_loss);
//   - AdamW on every trainable parameter with one weight decay.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fovea/data/movie_clips.h"
#include "fovea/nn/model.h"
#include "fovea/train/retina_losses.h"
#include "fovea/train/trainer.h"

namespace fovea::train {

struct RetinaRecipe {
  int64_t batch_size = 128;
  int64_t chunk_size = 50;   // training chunk length in frames
  double weight_decay = 0.01;
  bool drop_last = true;     // drop each session's last partial batch (openretina's train loaders do)
  uint64_t seed = 42;
  RetinaLossOptions loss;    // openretina's PoissonLoss3d by default
  // One of retina_validation_scores(): "correlation" (higher is better) or
  // "poisson_loss" (lower is better).
  std::string validation_score = "correlation";
};

const std::vector<std::string>& retina_validation_scores();

class RetinaTask : public TrainingTask {
 public:
  RetinaTask(std::shared_ptr<nn::Model> model, std::map<std::string, data::SessionClips> sessions, RetinaRecipe recipe,
             torch::Device device);
  // BatchRef.indices holds the chunks' start frames in the session's training movie.
  std::vector<BatchRef> epoch_batches(int64_t epoch) override;
  at::Tensor batch_loss(const BatchRef& batch) override;
  at::Tensor batch_loss_share(const BatchRef& batch, const at::Tensor& part) override;  // data-parallel
  at::Tensor batch_regularizer(const BatchRef& batch) override;
  double validation_score() override;
  std::string score_name() const override;
  bool higher_is_better() const override { return recipe_.validation_score != "poisson_loss"; }
  std::vector<torch::optim::OptimizerParamGroup> param_groups() override;

  // The chunks of a batch: inputs (B, C, chunk, H, W) and targets (B, chunk, N).
  std::pair<at::Tensor, at::Tensor> batch_data(const BatchRef& batch) const;
  // The validation score "poisson_loss": openretina's val_evaluation_loss
  // with evaluation_loss PoissonLoss3d(avg=True), as its Goldin 2022 config
  // sets and checkpoints on (mode min). Each validation batch's mean of
  // o − y·log(o + 1e-16) over (B, T_out, N), averaged over all batches of all
  // sessions weighted by batch size (Lightning's epoch mean), which equals
  // Σ_sessions (Poisson sum / (T_out·N)) / Σ_sessions clips.
  double poisson_validation_loss();
  const std::map<std::string, data::SessionClips>& sessions() const { return sessions_; }

 private:
  double correlation_validation_score();

  std::shared_ptr<nn::Model> model_;
  std::map<std::string, data::SessionClips> sessions_;
  RetinaRecipe recipe_;
  torch::Device device_;
};

// openretina's CorrelationLoss3d(avg=True, negate=False) per neuron: for each
// (sample, neuron) the correlation over time of output and target[:, lag:]
// (eps 1e-16 in the variances), averaged over samples → (N).
at::Tensor correlation_per_neuron_3d(const at::Tensor& output, const at::Tensor& target, double eps = 1e-16);

}  // namespace fovea::train
