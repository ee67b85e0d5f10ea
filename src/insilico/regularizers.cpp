// Stimulus range loss and postprocessors (norm + clip, temporal low-pass).
#include "fovea/insilico/regularizers.h"

#include <torch/torch.h>

#include <cmath>

#include "fovea/error.h"

namespace fovea::insilico {

namespace {
void check_channels(const at::Tensor& x, const ChannelRanges& ranges, const std::string& where) {
  check(x.dim() >= 2, where, "the stimulus needs shape (batch, channels, ...), got " + std::to_string(x.dim()) +
                                 " dimensions");
  check(x.size(1) == static_cast<int64_t>(ranges.size()), where,
        "expected " + std::to_string(ranges.size()) + " channels (one range each) in dimension 1, the stimulus has " +
            std::to_string(x.size(1)));
}
}  // namespace

RangeRegularizationLoss::RangeRegularizationLoss(ChannelRanges ranges, std::optional<double> max_norm, double factor)
    : ranges_(std::move(ranges)), max_norm_(max_norm), factor_(factor) {}

at::Tensor RangeRegularizationLoss::forward(const at::Tensor& stimulus) {
  check(stimulus.dim() >= 2 && stimulus.size(1) >= static_cast<int64_t>(ranges_.size()), "RangeRegularizationLoss",
        "the stimulus has fewer channels than the " + std::to_string(ranges_.size()) + " ranges");
  at::Tensor loss = torch::zeros({}, stimulus.options());
  for (size_t c = 0; c < ranges_.size(); ++c) {
    const at::Tensor channel = stimulus.select(1, static_cast<int64_t>(c));
    if (ranges_[c].first) loss = loss + torch::relu(*ranges_[c].first - channel).sum();
    if (ranges_[c].second) loss = loss + torch::relu(channel - *ranges_[c].second).sum();
  }
  if (max_norm_) loss = loss + torch::relu(stimulus.norm() - *max_norm_);
  return loss * factor_;
}

ChangeNormJointlyClipRangeSeparately::ChangeNormJointlyClipRangeSeparately(ChannelRanges ranges,
                                                                           std::optional<double> norm)
    : ranges_(std::move(ranges)), norm_(norm) {}

at::Tensor ChangeNormJointlyClipRangeSeparately::process(const at::Tensor& x) {
  check_channels(x, ranges_, "ChangeNormJointlyClipRangeSeparately");
  at::Tensor renorm = x;
  if (norm_) {
    // One norm per sample over all its channels, frames and pixels.
    std::vector<int64_t> view(x.dim(), 1);
    view[0] = x.size(0);
    const at::Tensor sample_norm = torch::linalg_vector_norm(x.reshape({x.size(0), -1}), 2, {-1});
    renorm = x * (*norm_ / sample_norm).view(view);
  }
  std::vector<at::Tensor> channels;
  for (size_t c = 0; c < ranges_.size(); ++c) {
    at::Tensor channel = renorm.select(1, static_cast<int64_t>(c));
    const auto& [lo, hi] = ranges_[c];
    if (lo || hi) {
      channel = torch::clamp(channel, lo ? c10::optional<at::Scalar>(*lo) : c10::nullopt,
                             hi ? c10::optional<at::Scalar>(*hi) : c10::nullopt);
    }
    channels.push_back(channel);
  }
  return torch::stack(channels, 1);
}

TemporalGaussianLowPassFilterProcessor::TemporalGaussianLowPassFilterProcessor(double sigma, int64_t kernel_size) {
  check(sigma > 0.0, "TemporalGaussianLowPassFilterProcessor", "sigma must be > 0");
  check(kernel_size >= 1, "TemporalGaussianLowPassFilterProcessor", "kernel_size must be >= 1");
  const at::Tensor x = torch::arange(kernel_size, torch::kFloat32) - static_cast<double>(kernel_size / 2);
  const at::Tensor k = torch::exp(-(x * x) / (2.0 * sigma * sigma));
  kernel_ = k / k.sum();
}

at::Tensor TemporalGaussianLowPassFilterProcessor::process(const at::Tensor& x) {
  check(x.dim() == 5, "TemporalGaussianLowPassFilterProcessor",
        "needs a movie of shape (batch, channels, time, height, width), got " + std::to_string(x.dim()) +
            " dimensions");
  const int64_t channels = x.size(1);
  // One (k, 1, 1) kernel per channel: a depthwise conv that only mixes frames.
  const at::Tensor weight =
      kernel_.to(x.device(), x.scalar_type()).view({1, 1, -1, 1, 1}).repeat({channels, 1, 1, 1, 1});
  const int64_t k = kernel_.size(0);
  // PyTorch's padding="same": total k−1, the left side gets (k−1)/2.
  const int64_t left = (k - 1) / 2, right = k - 1 - left;
  const at::Tensor padded = torch::constant_pad_nd(x, {0, 0, 0, 0, left, right}, 0.0);
  return torch::conv3d(padded, weight, at::Tensor(), at::IntArrayRef{1, 1, 1}, at::IntArrayRef{0, 0, 0},
                       at::IntArrayRef{1, 1, 1}, channels);
}

}  // namespace fovea::insilico
