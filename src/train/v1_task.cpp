// minimodel's V1 training recipe as a TrainingTask.
#include "fovea/train/v1_task.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <spdlog/spdlog.h>

#include <array>
#include <cstring>

#include "fovea/error.h"
#include "fovea/nn/kernels/kernel_set.h"
#include "fovea/nn/v1_cores.h"
#include "fovea/nn/v1_readouts.h"

namespace fovea::train {

namespace {

// The (channels, height, width) a conv answers for (C, h, w) images, from its
// options (minimodel's convs pad explicitly).
std::array<int64_t, 3> conv_output_shape(const torch::nn::detail::ConvNdOptions<2>& o, int64_t h, int64_t w) {
  const auto* padding = c10::get_if<torch::ExpandingArray<2>>(&o.padding());
  if (!padding) fail("frozen first layer", "its conv must have explicit padding");
  const int64_t size[2] = {h, w};
  std::array<int64_t, 3> shape{o.out_channels(), 0, 0};
  for (int d = 0; d < 2; ++d)
    shape[d + 1] = (size[d] + 2 * (*padding)->at(d) - o.dilation()->at(d) * (o.kernel_size()->at(d) - 1) - 1) /
                       o.stride()->at(d) +
                   1;
  return shape;
}

// src.index_select(0, rows) for the data path: LibTorch 1.13's CPU
// index_select copies a (N, C, H, W) tensor element by element, which took
// 60 % of a minimodel epoch gathering the cached first-conv outputs
// (profile_step minimodel-epoch); a row is contiguous, so one memcpy each.
at::Tensor gather_rows(const at::Tensor& src, const at::Tensor& rows) {
  if (!src.device().is_cpu() || !src.is_contiguous() || src.requires_grad() || src.dim() < 2)
    return src.index_select(0, rows);
  at::Tensor index = rows.to(torch::kInt64).contiguous();
  at::Tensor out = at::empty([&] {
    auto sizes = src.sizes().vec();
    sizes[0] = index.size(0);
    return sizes;
  }(), src.options());
  const int64_t n = index.size(0), row_bytes = src.stride(0) * static_cast<int64_t>(src.element_size());
  const int64_t* idx = index.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i)
    check(idx[i] >= 0 && idx[i] < src.size(0), "training data", "row index " + std::to_string(idx[i]) + " out of range");
  const auto* from = static_cast<const char*>(src.data_ptr());
  auto* to = static_cast<char*>(out.data_ptr());
  at::parallel_for(0, n, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) std::memcpy(to + i * row_bytes, from + idx[i] * row_bytes, row_bytes);
  });
  return out;
}

}  // namespace

at::Tensor v1_loss(nn::Model& model, const at::Tensor& prediction, const at::Tensor& target, double hoyer_square) {
  // Σ over the batch per neuron, then the mean over neurons.
  at::Tensor per_neuron = (prediction - target * torch::log(prediction)).sum(0);
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
  if (recipe_.first_conv_cache_mb <= 0 || !core || !core->layer(0)->conv ||
      core->layer(0)->conv->weight.requires_grad())
    return;
  auto conv = core->layer(0)->conv;
  auto cache = data_.first_conv_cache ? data_.first_conv_cache : std::make_shared<FirstConvCache>();
  // The images training and validation show, each once.
  at::Tensor rows = std::get<0>(at::_unique(
      data_.image_index.index_select(0, torch::cat({data_.train_trials, data_.val_trials})), /*sorted=*/true));
  const bool reusable = cache->outputs.defined() && cache->outputs.device() == device_ &&
                        torch::equal(cache->weight, conv->weight.detach()) &&
                        (cache->slot.index_select(0, rows) >= 0).all().item<bool>();
  if (!reusable) {
    torch::NoGradGuard no_grad;
    const auto shape = conv_output_shape(conv->options, data_.images.size(2), data_.images.size(3));
    const double mb = 4.0 * static_cast<double>(rows.size(0)) * shape[0] * shape[1] * shape[2] / (1 << 20);
    if (mb > static_cast<double>(recipe_.first_conv_cache_mb)) {
      spdlog::info("frozen first layer: its outputs would take {:.0f} MB (first_conv_cache_mb {}); computed per batch",
                   mb, recipe_.first_conv_cache_mb);
      return;
    }
    std::vector<at::Tensor> chunks;
    for (int64_t start = 0; start < rows.size(0); start += recipe_.batch_size) {
      at::Tensor chunk = rows.narrow(0, start, std::min(recipe_.batch_size, rows.size(0) - start));
      chunks.push_back(conv->forward(gather_rows(data_.images, chunk).to(device_)));
    }
    cache->weight = conv->weight.detach().clone();
    cache->outputs = torch::cat(chunks, 0);
    cache->slot = torch::full({data_.images.size(0)}, -1, torch::kInt64);
    cache->slot.index_put_({rows}, torch::arange(rows.size(0)));
    spdlog::debug("frozen first layer: outputs of {} images cached ({:.0f} MB)", rows.size(0), mb);
  }
  cache_ = cache;
}

at::Tensor V1Task::predict_trials(const at::Tensor& trials) {
  at::Tensor rows = data_.image_index.index_select(0, trials);
  if (!cache_) return model_->forward(gather_rows(data_.images, rows).to(device_));
  auto core = std::static_pointer_cast<nn::MinimodelCore>(model_->core());
  at::Tensor slots = cache_->slot.index_select(0, rows).to(device_);
  return model_->readout()->forward(core->forward_from_first_conv(gather_rows(cache_->outputs, slots)), "");
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
  return v1_loss(*model_, predict_trials(batch.indices), target, recipe_.hoyer_square);
}

double V1Task::validation_score() {
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> preds;
  const auto& trials = data_.val_trials;
  for (int64_t start = 0; start < trials.size(0); start += recipe_.batch_size) {
    at::Tensor idx = trials.narrow(0, start, std::min(recipe_.batch_size, trials.size(0) - start));
    preds.push_back(predict_trials(idx).to(torch::kCPU));
  }
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
