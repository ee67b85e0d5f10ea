// openretina's core-readout training recipe as a TrainingTask.
#include "fovea/train/retina_task.h"

#include <torch/torch.h>

#include <algorithm>
#include <random>

#include "fovea/error.h"
#include "fovea/train/retina_losses.h"
#include "fovea/train/precision.h"

namespace fovea::train {

at::Tensor correlation_per_neuron_3d(const at::Tensor& output, const at::Tensor& target, double eps) {
  at::Tensor y = align_target_3d(output, target, "CorrelationLoss3d");
  at::Tensor dx = output - output.mean(1, true);
  at::Tensor dy = y - y.mean(1, true);
  at::Tensor corr = (dx * dy).mean(1) / torch::sqrt(((dx * dx).mean(1) + eps) * ((dy * dy).mean(1) + eps));
  return corr.mean(0);
}

const std::vector<std::string>& retina_validation_scores() {
  static const std::vector<std::string> names = {"correlation", "poisson_loss"};
  return names;
}

RetinaTask::RetinaTask(std::shared_ptr<nn::Model> model, std::map<std::string, data::SessionClips> sessions,
                       RetinaRecipe recipe, torch::Device device)
    : model_(std::move(model)), sessions_(std::move(sessions)), recipe_(recipe), device_(device) {
  check(!sessions_.empty(), "training data", "there are no sessions");
  check(recipe_.batch_size >= 1, "training option 'batch_size'", "must be at least 1");
  const auto& losses = retina_loss_names();
  check(std::find(losses.begin(), losses.end(), recipe_.loss.name) != losses.end(), "training option 'loss'",
        "unknown loss '" + recipe_.loss.name + "' (known: poisson, l1_poisson, mse, correlation)");
  const auto& scores = retina_validation_scores();
  check(std::find(scores.begin(), scores.end(), recipe_.validation_score) != scores.end(),
        "training option 'validation_score'",
        "unknown score '" + recipe_.validation_score + "' (known: correlation, poisson_loss)");
  for (const auto& [key, s] : sessions_) {
    check(recipe_.chunk_size <= s.train_movie.size(1), key,
          "the training movie has " + std::to_string(s.train_movie.size(1)) + " frames, fewer than chunk_size " +
              std::to_string(recipe_.chunk_size));
    check(s.val_movie.defined(), key, "there are no validation clips");
  }
}

std::vector<BatchRef> RetinaTask::epoch_batches(int64_t epoch) {
  // Each session's passes over its chunks; a pass's shifts come from the seed,
  // the epoch, the session and the pass number.
  std::vector<std::string> keys;
  for (const auto& [k, s] : sessions_) keys.push_back(k);
  auto pass_batches = [&](size_t session, int64_t pass) {
    const auto& s = sessions_.at(keys[session]);
    const uint64_t seed = recipe_.seed * 1000003ULL + static_cast<uint64_t>(epoch) * 7919ULL +
                          static_cast<uint64_t>(session) * 104729ULL + static_cast<uint64_t>(pass) * 15485863ULL;
    auto starts = data::training_chunk_starts(s.train_movie.size(1), recipe_.chunk_size, seed);
    std::vector<BatchRef> out;
    for (size_t b = 0; b < starts.size(); b += static_cast<size_t>(recipe_.batch_size)) {
      const size_t n = std::min(starts.size() - b, static_cast<size_t>(recipe_.batch_size));
      if (n < static_cast<size_t>(recipe_.batch_size) && recipe_.drop_last) break;
      std::vector<int64_t> chunk(starts.begin() + static_cast<int64_t>(b), starts.begin() + static_cast<int64_t>(b + n));
      out.push_back({keys[session], torch::tensor(chunk, torch::kInt64)});
    }
    return out;
  };
  std::vector<std::vector<BatchRef>> first_pass;
  size_t max_batches = 0;
  for (size_t i = 0; i < keys.size(); ++i) {
    first_pass.push_back(pass_batches(i, 0));
    check(!first_pass.back().empty(), keys[i],
          "the training movie (" + std::to_string(sessions_.at(keys[i]).train_movie.size(1)) + " frames) gives no full batch of " +
              std::to_string(recipe_.batch_size) + " chunks of " + std::to_string(recipe_.chunk_size) +
              " frames; lower batch_size or chunk_size");
    max_batches = std::max(max_batches, first_pass.back().size());
  }
  // LongCycler: random session order, round-robin.
  std::vector<size_t> order(keys.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::mt19937_64 rng(recipe_.seed * 31ULL + static_cast<uint64_t>(epoch));
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng() % i]);
  std::vector<size_t> position(keys.size(), 0);
  std::vector<int64_t> pass(keys.size(), 0);
  std::vector<std::vector<BatchRef>> current = first_pass;
  std::vector<BatchRef> batches;
  for (size_t it = 0; it < keys.size() * max_batches; ++it) {
    const size_t s = order[it % order.size()];
    if (position[s] == current[s].size()) {
      current[s] = pass_batches(s, ++pass[s]);
      position[s] = 0;
    }
    batches.push_back(current[s][position[s]++]);
  }
  return batches;
}

std::pair<at::Tensor, at::Tensor> RetinaTask::batch_data(const BatchRef& batch) const {
  const auto& s = sessions_.at(batch.data_key);
  std::vector<at::Tensor> inputs, targets;
  const int64_t* starts = batch.indices.data_ptr<int64_t>();
  for (int64_t i = 0; i < batch.indices.numel(); ++i) {
    inputs.push_back(s.train_movie.narrow(1, starts[i], recipe_.chunk_size));
    targets.push_back(s.train_responses.narrow(0, starts[i], recipe_.chunk_size));
  }
  return {torch::stack(inputs).to(device_), torch::stack(targets).to(device_)};
}

at::Tensor RetinaTask::batch_loss(const BatchRef& batch) {
  auto [inputs, targets] = batch_data(batch);
  at::Tensor output = autocast_forward([&] { return model_->forward(inputs, batch.data_key); });
  return retina_loss(output, targets, recipe_.loss) + model_->core()->regularizer() +
         model_->readout()->regularizer(batch.data_key);
}

at::Tensor RetinaTask::batch_loss_share(const BatchRef& batch, const at::Tensor& part) {
  auto [inputs, targets] = batch_data({batch.data_key, part});
  at::Tensor output = autocast_forward([&] { return model_->forward(inputs, batch.data_key); });
  at::Tensor loss = retina_loss(output, targets, recipe_.loss);
  // A loss that is a mean over the batch (avg; MSE always sums) counts the
  // part by its fraction of the batch; a sum adds up as it is.
  const bool mean = recipe_.loss.avg && recipe_.loss.name != "mse";
  return mean ? loss * (static_cast<double>(part.numel()) / static_cast<double>(batch.indices.numel())) : loss;
}

at::Tensor RetinaTask::batch_regularizer(const BatchRef& batch) {
  return model_->core()->regularizer() + model_->readout()->regularizer(batch.data_key);
}

std::string RetinaTask::score_name() const {
  return recipe_.validation_score == "poisson_loss" ? "val_poisson_loss" : "val_correlation";
}

double RetinaTask::validation_score() {
  return recipe_.validation_score == "poisson_loss" ? poisson_validation_loss() : correlation_validation_score();
}

double RetinaTask::poisson_validation_loss() {
  torch::NoGradGuard no_grad;
  double weighted_sum = 0.0;  // Σ over batches of (batch size × the batch's mean loss)
  int64_t clips = 0;
  for (const auto& [key, s] : sessions_) {
    const int64_t n_clips = static_cast<int64_t>(s.val_clip_indices.size());
    const int64_t clip = s.val_movie.size(1) / n_clips;
    for (int64_t b = 0; b < n_clips; b += recipe_.batch_size) {
      const int64_t n = std::min(recipe_.batch_size, n_clips - b);
      at::Tensor output = autocast_forward([&] {
        return model_->forward(s.val_movie.narrow(1, b * clip, n * clip).unflatten(1, {n, clip}).transpose(0, 1).to(device_),
                               key);
      });
      at::Tensor target = s.val_responses.narrow(0, b * clip, n * clip).unflatten(0, {n, clip}).to(device_);
      PoissonLoss3dOptions mean;
      mean.avg = true;
      weighted_sum += poisson_loss_3d(output, target, mean).item<double>() * static_cast<double>(n);
    }
    clips += n_clips;
  }
  return weighted_sum / static_cast<double>(clips);
}

double RetinaTask::correlation_validation_score() {
  torch::NoGradGuard no_grad;
  double total = 0.0;
  for (const auto& [key, s] : sessions_) {
    // The validation clips, whole, batch_size at a time.
    const int64_t clip = s.val_movie.size(1) / static_cast<int64_t>(s.val_clip_indices.size());
    const int64_t n_clips = static_cast<int64_t>(s.val_clip_indices.size());
    at::Tensor sum = torch::zeros({s.val_responses.size(1)}, torch::kFloat64);
    for (int64_t b = 0; b < n_clips; b += recipe_.batch_size) {
      const int64_t n = std::min(recipe_.batch_size, n_clips - b);
      std::vector<at::Tensor> inputs, targets;
      for (int64_t i = b; i < b + n; ++i) {
        inputs.push_back(s.val_movie.narrow(1, i * clip, clip));
        targets.push_back(s.val_responses.narrow(0, i * clip, clip));
      }
      at::Tensor output = autocast_forward([&] { return model_->forward(torch::stack(inputs).to(device_), key); });
      sum += correlation_per_neuron_3d(output, torch::stack(targets).to(device_)).to(torch::kCPU, torch::kFloat64) *
             static_cast<double>(n);
    }
    total += (sum / static_cast<double>(n_clips)).mean().item<double>();
  }
  return total / static_cast<double>(sessions_.size());
}

std::vector<torch::optim::OptimizerParamGroup> RetinaTask::param_groups() {
  std::vector<at::Tensor> params;
  for (auto& p : model_->parameters())
    if (p.requires_grad()) params.push_back(p);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(params, std::make_unique<torch::optim::AdamWOptions>(
                                  torch::optim::AdamWOptions().weight_decay(recipe_.weight_decay)));
  return groups;
}

}  // namespace fovea::train
