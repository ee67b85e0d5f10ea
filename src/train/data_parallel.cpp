// Data-parallel training: batch shares, the bucketed gradient all-reduce,
// buffer broadcast, and SyncBatchNorm as a custom autograd function.
#include "fovea/train/data_parallel.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <chrono>

#include "fovea/error.h"
#include "fovea/nn/batch_norm_sync.h"

namespace fovea::train {

namespace {

// PyTorch's SyncBatchNorm: the forward sums x and x² per channel over every
// worker's samples (one all-reduce, in float64) for the global batch's mean
// and biased variance; the backward sums the two reductions the input's
// gradient needs (Σ dy and Σ dy·(x − mean)). The weight's and bias's
// gradients stay this worker's part: the gradient all-reduce adds them up.
struct SyncBatchNormFunction : public torch::autograd::Function<SyncBatchNormFunction> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight,
                            const at::Tensor& bias, at::Tensor running_mean, at::Tensor running_var,
                            at::Tensor num_batches_tracked, std::optional<double> momentum, double eps,
                            ProcessGroup* group) {
    check(x.dim() >= 2, "BatchNorm", "expects (batch, channels, ...) input");
    const int64_t channels = x.size(1);
    std::vector<int64_t> dims = {0};
    for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
    at::Tensor x64 = x.to(at::kDouble);
    at::Tensor count = at::full({1}, static_cast<double>(x.numel() / std::max<int64_t>(channels, 1)),
                                x64.options());
    at::Tensor stats = at::cat({x64.sum(dims), x64.square().sum(dims), count});
    group->all_reduce_sum({stats});
    const double n = stats[2 * channels].item<double>();
    at::Tensor mean64 = stats.narrow(0, 0, channels) / n;
    at::Tensor var64 = (stats.narrow(0, channels, channels) / n - mean64.square()).clamp_min(0);
    at::Tensor invstd64 = (var64 + eps).rsqrt();
    if (running_mean.defined()) {
      // torch::nn::BatchNorm's update: the momentum, or the cumulative
      // average without one; the unbiased variance.
      torch::NoGradGuard no_grad;
      double factor = momentum.value_or(0.0);
      if (num_batches_tracked.defined()) {
        num_batches_tracked.add_(1);
        if (!momentum) factor = 1.0 / num_batches_tracked.item<double>();
      }
      running_mean.mul_(1 - factor).add_(mean64.to(running_mean.scalar_type()), factor);
      running_var.mul_(1 - factor).add_((var64 * (n / std::max(n - 1, 1.0))).to(running_var.scalar_type()), factor);
    }
    std::vector<int64_t> shape(static_cast<size_t>(x.dim()), 1);
    shape[1] = channels;
    at::Tensor mean = mean64.to(x.scalar_type()).view(shape), invstd = invstd64.to(x.scalar_type()).view(shape);
    at::Tensor y = (x - mean) * invstd;
    if (weight.defined()) y = y * weight.view(shape);
    if (bias.defined()) y = y + bias.view(shape);
    ctx->save_for_backward({x, weight, mean, invstd});
    ctx->saved_data["n"] = n;
    ctx->saved_data["has_bias"] = bias.defined();
    ctx->saved_data["group"] = reinterpret_cast<int64_t>(group);
    return y;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &weight = saved[1], &mean = saved[2], &invstd = saved[3];
    const double n = ctx->saved_data["n"].toDouble();
    auto* group = reinterpret_cast<ProcessGroup*>(ctx->saved_data["group"].toInt());
    at::Tensor dy = grads[0];
    const int64_t channels = x.size(1);
    std::vector<int64_t> dims = {0};
    for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
    at::Tensor xmu = x - mean;
    at::Tensor sums = at::cat({dy.sum(dims, false, at::kDouble), (dy * xmu).sum(dims, false, at::kDouble)});
    at::Tensor grad_bias = sums.narrow(0, 0, channels).to(x.scalar_type());            // this worker's Σ dy
    at::Tensor grad_weight =
        (sums.narrow(0, channels, channels).to(x.scalar_type()) * invstd.flatten());  // this worker's Σ dy·x̂
    group->all_reduce_sum({sums});
    std::vector<int64_t> shape(static_cast<size_t>(x.dim()), 1);
    shape[1] = channels;
    at::Tensor mean_dy = (sums.narrow(0, 0, channels) / n).to(x.scalar_type()).view(shape);
    at::Tensor mean_dy_xmu = (sums.narrow(0, channels, channels) / n).to(x.scalar_type()).view(shape);
    at::Tensor scale = weight.defined() ? invstd * weight.view(shape) : invstd;
    at::Tensor dx = (dy - mean_dy - xmu * invstd.square() * mean_dy_xmu) * scale;
    return {dx,
            weight.defined() ? grad_weight : at::Tensor(),
            ctx->saved_data["has_bias"].toBool() ? grad_bias : at::Tensor(),
            at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

class GlobalBatchNorm : public nn::BatchNormSync {
 public:
  explicit GlobalBatchNorm(ProcessGroup& group) : group_(group) {}
  at::Tensor forward(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, at::Tensor& running_mean,
                     at::Tensor& running_var, at::Tensor& num_batches_tracked, std::optional<double> momentum,
                     double eps) override {
    return SyncBatchNormFunction::apply(x, weight, bias, running_mean, running_var, num_batches_tracked, momentum, eps,
                                        &group_);
  }

 private:
  ProcessGroup& group_;
};

constexpr int64_t kBucketBytes = 25 << 20;  // DDP's bucket_cap_mb

}  // namespace

at::Tensor TrainingTask::batch_loss_share(const BatchRef&, const at::Tensor&) {
  fail("data-parallel training", "this training task cannot split its batches across workers");
}

at::Tensor TrainingTask::batch_regularizer(const BatchRef&) {
  fail("data-parallel training", "this training task cannot split its batches across workers");
}

DataParallel::DataParallel(std::shared_ptr<ProcessGroup> group, bool sync_batch_norm) : group_(std::move(group)) {
  if (sync_batch_norm) {
    check(nn::batch_norm_sync() == nullptr, "data-parallel training", "one run per process");
    batch_norm_sync_ = std::make_unique<GlobalBatchNorm>(*group_);
    nn::batch_norm_sync() = batch_norm_sync_.get();
  }
}

DataParallel::~DataParallel() {
  if (batch_norm_sync_ && nn::batch_norm_sync() == batch_norm_sync_.get()) nn::batch_norm_sync() = nullptr;
}

std::shared_ptr<DataParallel> DataParallel::from_environment(bool sync_batch_norm, std::chrono::milliseconds timeout) {
  auto env = worker_env_from_environment();
  if (!env) return nullptr;
  return std::make_shared<DataParallel>(std::make_shared<ProcessGroup>(*env, timeout), sync_batch_norm);
}

at::Tensor DataParallel::part_of(const at::Tensor& indices, int64_t r, int64_t w, double* weight) {
  const int64_t n = indices.size(0);
  if (n < w) {
    *weight = 1.0 / static_cast<double>(w);
    return indices;
  }
  *weight = 1.0;
  const int64_t begin = n * r / w, end = n * (r + 1) / w;
  return indices.narrow(0, begin, end - begin);
}

double DataParallel::backward_share(TrainingTask& task, const BatchRef& batch, int64_t accumulate) {
  double weight = 1.0;
  const at::Tensor part = part_of(batch.indices, rank(), size(), &weight);
  at::Tensor loss = task.batch_loss_share(batch, part);
  if (weight != 1.0) loss = loss * weight;
  if (writes_outputs()) loss = loss + task.batch_regularizer(batch);
  const double value = loss.item<double>();
  (accumulate > 1 ? loss / static_cast<double>(accumulate) : loss).backward();
  return value;
}

double DataParallel::train_batch(TrainingTask& task, const BatchRef& batch, int64_t accumulate,
                                 const std::vector<at::Tensor>* step_params) {
  const auto start = std::chrono::steady_clock::now();
  samples_ += batch.indices.size(0);
  pending_loss_ += backward_share(task, batch, accumulate);
  double summed = 0.0;
  if (step_params) {
    summed = all_reduce_gradients(*step_params, pending_loss_);
    pending_loss_ = 0.0;
  }
  train_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summed;
}

double DataParallel::all_reduce_gradients(const std::vector<at::Tensor>& params, double loss) {
  const auto start = std::chrono::steady_clock::now();
  // Which parameters have a gradient here, and the loss, summed in one small tensor.
  at::Tensor meta = torch::zeros({static_cast<int64_t>(params.size()) + 1}, torch::kFloat64);
  auto* m = meta.data_ptr<double>();
  for (size_t i = 0; i < params.size(); ++i) m[i] = params[i].grad().defined() ? 1.0 : 0.0;
  m[params.size()] = loss;
  // Buckets: consecutive parameters of one dtype, up to kBucketBytes each.
  std::vector<at::Tensor> tensors = {meta};
  std::vector<std::pair<size_t, size_t>> ranges;  // [first, last) parameter of each bucket
  size_t first = 0;
  int64_t bytes = 0;
  auto close_bucket = [&](size_t end) {
    if (end == first) return;
    std::vector<at::Tensor> flat;
    for (size_t i = first; i < end; ++i) {
      const at::Tensor& g = params[i].grad();
      flat.push_back(g.defined() ? g.reshape(-1) : torch::zeros({params[i].numel()}, params[i].options()));
    }
    tensors.push_back(torch::cat(flat));
    ranges.emplace_back(first, end);
    first = end;
    bytes = 0;
  };
  for (size_t i = 0; i < params.size(); ++i) {
    const int64_t b = params[i].numel() * static_cast<int64_t>(params[i].element_size());
    if (i > first && (bytes + b > kBucketBytes || params[i].scalar_type() != params[first].scalar_type()))
      close_bucket(i);
    bytes += b;
  }
  close_bucket(params.size());
  group_->all_reduce_sum(tensors);
  for (size_t k = 0; k < ranges.size(); ++k) {
    int64_t offset = 0;
    for (size_t i = ranges[k].first; i < ranges[k].second; ++i) {
      at::Tensor p = params[i];
      const int64_t numel = p.numel();
      if (m[i] > 0) {
        at::Tensor summed = tensors[k + 1].narrow(0, offset, numel).view(p.sizes());
        if (p.grad().defined())
          p.mutable_grad().copy_(summed);
        else
          p.mutable_grad() = summed.clone();
      }
      offset += numel;
    }
  }
  all_reduce_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ++all_reduce_steps_;
  return m[params.size()];
}

void DataParallel::broadcast_buffers(torch::nn::Module& model) {
  std::vector<at::Tensor> buffers;
  for (auto& b : model.buffers())
    if (b.defined() && b.numel() > 0) buffers.push_back(b);
  if (!buffers.empty()) group_->broadcast(buffers, 0);
}

}  // namespace fovea::train
