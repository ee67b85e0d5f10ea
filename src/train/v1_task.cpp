// minimodel's V1 training recipe as a TrainingTask.
#include "fovea/train/v1_task.h"

#include <torch/torch.h>

#include <spdlog/spdlog.h>

#include <array>

#include "fovea/error.h"
#include "fovea/nn/batch_norm_sync.h"
#include "fovea/nn/gather_rows.h"
#include "fovea/nn/kernels/kernel_set.h"
#include "fovea/nn/v1_cores.h"
#include "fovea/nn/v1_readouts.h"
#include "fovea/train/masked_poisson.h"
#include "fovea/train/precision.h"

namespace fovea::train {

at::Tensor v1_loss(nn::Model& model, const at::Tensor& prediction, const at::Tensor& target, double hoyer_square,
                   const at::Tensor& real_responses) {
  // Σ over the batch per neuron (over the real trials, normalised by their
  // count, with masks), then the mean over neurons.
  at::Tensor per_neuron = real_responses.defined()
                              ? masked_poisson_per_neuron(prediction, target, real_responses.to(prediction.device()))
                              : (prediction - target * torch::log(prediction)).sum(0);
  if (hoyer_square != 0.0) {
    auto readout = std::dynamic_pointer_cast<nn::Rank1Readout>(model.readout());
    if (!readout) fail("training recipe", "hoyer_square needs a rank-1 readout");
    per_neuron = per_neuron + hoyer_square * readout->hoyer_square();
  }
  return per_neuron.mean();
}

double mean_variance_explained(const at::Tensor& prediction, const at::Tensor& target) {
  at::Tensor y = target.to(torch::kFloat64), p = prediction.to(torch::kFloat64);
  at::Tensor resid = (y - p).pow(2).sum(0);
  at::Tensor total = (y - y.mean(0)).pow(2).sum(0);
  return (1.0 - resid / total).mean().item<double>();
}

V1Task::V1Task(std::shared_ptr<nn::Model> model, V1TrainingData data, V1Recipe recipe, torch::Device device)
    : model_(std::move(model)), data_(std::move(data)), recipe_(recipe), device_(device) {
  if (recipe_.batch_size < 1) fail("training recipe", "batch_size must be at least 1");
  if (data_.train_trials.numel() == 0) fail("training data", "there are no training trials");
  if (data_.val_trials.numel() == 0) fail("training data", "there are no validation trials");
  if (nn::kernel_set() == nn::KernelSet::fast) cache_first_conv();
}

void V1Task::cache_first_conv() {
  auto core = std::dynamic_pointer_cast<nn::MinimodelCore>(model_->core());
  if (recipe_.first_conv_cache_mb <= 0 || !core || !core->layer(0)->starts_from_pooled() ||
      core->layer(0)->conv->weight.requires_grad())
    return;
  auto conv = core->layer(0)->conv;
  auto cache = data_.first_conv_cache ? data_.first_conv_cache : std::make_shared<FirstConvCache>();
  // The images training and validation show, each once.
  at::Tensor rows = std::get<0>(at::_unique(
      data_.image_index.index_select(0, torch::cat({data_.train_trials, data_.val_trials})), /*sorted=*/true));
  const bool reusable = cache->pooled.max.defined() && cache->pooled.max.device() == device_ &&
                        torch::equal(cache->weight, conv->weight.detach()) &&
                        (cache->slot.index_select(0, rows) >= 0).all().item<bool>();
  if (!reusable) {
    torch::NoGradGuard no_grad;
    const auto shape = core->conv_output_shape(0, data_.images.size(2), data_.images.size(3));
    // The 2x2 maxima and minima (float32) and two sums per channel (float64).
    const double mb = static_cast<double>(rows.size(0)) * shape[0] *
                      (2.0 * 4.0 * static_cast<double>((shape[1] / 2) * (shape[2] / 2)) + 2.0 * 8.0) / (1 << 20);
    if (mb > static_cast<double>(recipe_.first_conv_cache_mb)) {
      spdlog::info("frozen first layer: its outputs would take {:.0f} MB (first_conv_cache_mb {}); computed per batch",
                   mb, recipe_.first_conv_cache_mb);
      return;
    }
    std::vector<nn::PooledFirstConv> parts;
    for (int64_t start = 0; start < rows.size(0); start += recipe_.batch_size) {
      at::Tensor chunk = rows.narrow(0, start, std::min(recipe_.batch_size, rows.size(0) - start));
      at::Tensor images = nn::gather_rows(data_.images, chunk).to(device_);
      parts.push_back(nn::PooledFirstConv::from_conv_output(conv->forward(images)));
    }
    cache->weight = conv->weight.detach().clone();
    cache->pooled = nn::PooledFirstConv::cat(parts);
    cache->slot = torch::full({data_.images.size(0)}, -1, torch::kInt64);
    cache->slot.index_put_({rows}, torch::arange(rows.size(0)));
    spdlog::debug("frozen first layer: outputs of {} images cached ({:.0f} MB)", rows.size(0), mb);
  }
  cache_ = cache;
}

at::Tensor V1Task::predict_trials(const at::Tensor& trials) {
  at::Tensor rows = data_.image_index.index_select(0, trials);
  if (!cache_) return autocast_forward([&] { return model_->forward(nn::gather_rows(data_.images, rows).to(device_)); });
  auto core = std::static_pointer_cast<nn::MinimodelCore>(model_->core());
  at::Tensor slots = cache_->slot.index_select(0, rows).to(device_);
  return autocast_forward([&] {
    return model_->readout()->forward(core->forward_from_pooled_first_conv(cache_->pooled.select(slots)), "");
  });
}

std::vector<BatchRef> V1Task::epoch_batches(int64_t epoch) {
  // minimodel seeds NumPy with the epoch; here the permutation comes from the
  // run's seed and the epoch, so a run is reproducible and epochs differ.
  auto gen = at::make_generator<at::CPUGeneratorImpl>(recipe_.seed * 1000003ULL + static_cast<uint64_t>(epoch));
  at::Tensor order = data_.train_trials.index_select(
      0, torch::randperm(data_.train_trials.size(0), gen, torch::TensorOptions().dtype(torch::kInt64)));
  std::vector<BatchRef> batches;
  for (int64_t start = 0; start < order.size(0); start += recipe_.batch_size)
    batches.push_back({"", order.narrow(0, start, std::min(recipe_.batch_size, order.size(0) - start))});
  return batches;
}

at::Tensor V1Task::batch_loss(const BatchRef& batch) {
  at::Tensor target = data_.responses.index_select(0, batch.indices).to(device_);
  at::Tensor real = data_.real_responses.defined() ? data_.real_responses.index_select(0, batch.indices) : at::Tensor();
  return v1_loss(*model_, predict_trials(batch.indices), target, recipe_.hoyer_square, real);
}

// v1_loss sums each neuron's loss over the batch (with masks: divided by the
// neuron's real trials in the batch), then takes the mean over neurons: a part
// of the batch gives its own sums, over the whole batch's counts.
at::Tensor V1Task::batch_loss_share(const BatchRef& batch, const at::Tensor& part) {
  // The cached first layer's BatchNorm takes its statistics from the pooled
  // sums of this worker's images only; with synchronised BatchNorm the layer
  // runs whole (same function, global statistics).
  at::Tensor prediction =
      cache_ && nn::batch_norm_sync()
          ? autocast_forward([&] {
              return model_->forward(nn::gather_rows(data_.images, data_.image_index.index_select(0, part)).to(device_));
            })
          : predict_trials(part);
  at::Tensor target = data_.responses.index_select(0, part).to(device_);
  if (!data_.real_responses.defined()) return v1_loss(*model_, prediction, target, 0.0);
  at::Tensor real = data_.real_responses.index_select(0, part).to(device_);
  const auto dtype = prediction.scalar_type();
  // masked_poisson_per_neuron divides by the part's count (+ 1e-6); rescaled to the batch's.
  at::Tensor part_count = real.to(at::kBool).sum(0).to(dtype) + 1e-6;
  at::Tensor batch_count =
      data_.real_responses.index_select(0, batch.indices).to(device_).to(at::kBool).sum(0).to(dtype) + 1e-6;
  return (masked_poisson_per_neuron(prediction, target, real) * (part_count / batch_count)).mean();
}

at::Tensor V1Task::batch_regularizer(const BatchRef&) {
  if (recipe_.hoyer_square == 0.0) return torch::zeros({}, torch::TensorOptions().device(device_));
  auto readout = std::dynamic_pointer_cast<nn::Rank1Readout>(model_->readout());
  if (!readout) fail("training recipe", "hoyer_square needs a rank-1 readout");
  return recipe_.hoyer_square * readout->hoyer_square().mean();  // v1_loss's hs·mean over neurons
}

double V1Task::validation_score() {
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> preds;
  const auto& trials = data_.val_trials;
  for (int64_t start = 0; start < trials.size(0); start += recipe_.batch_size) {
    at::Tensor idx = trials.narrow(0, start, std::min(recipe_.batch_size, trials.size(0) - start));
    preds.push_back(predict_trials(idx).to(torch::kCPU));
  }
  if (data_.real_responses.defined())
    return masked_variance_explained(torch::cat(preds, 0), data_.responses.index_select(0, trials),
                                     data_.real_responses.index_select(0, trials));
  return mean_variance_explained(torch::cat(preds, 0), data_.responses.index_select(0, trials));
}

std::vector<torch::optim::OptimizerParamGroup> V1Task::param_groups() {
  std::vector<at::Tensor> core, spatial, channels, bias;
  for (const auto& p : model_->core()->parameters())
    if (p.requires_grad()) core.push_back(p);  // a frozen first layer has no gradient: skipped
  auto readout = std::dynamic_pointer_cast<nn::Rank1Readout>(model_->readout());
  if (!readout) {
    for (const auto& p : model_->readout()->parameters())
      if (p.requires_grad()) channels.push_back(p);
  } else {
    spatial = {readout->Wy, readout->Wx};
    channels = {readout->Wc};
    if (readout->bias.defined()) bias = {readout->bias};
  }
  std::vector<torch::optim::OptimizerParamGroup> groups;
  auto add = [&](std::vector<at::Tensor> params, double wd) {
    if (params.empty()) return;
    groups.emplace_back(std::move(params), std::make_unique<torch::optim::AdamWOptions>(
                                               torch::optim::AdamWOptions().weight_decay(wd)));
  };
  add(core, recipe_.wd_core);
  add(spatial, recipe_.wd_spatial);
  add(channels, recipe_.wd_channels);
  add(bias, recipe_.wd_bias);
  return groups;
}

void V1Task::after_step() {
  if (!recipe_.clamp_spatial) return;
  if (auto readout = std::dynamic_pointer_cast<nn::Rank1Readout>(model_->readout())) readout->clamp_spatial();
}

}  // namespace fovea::train
