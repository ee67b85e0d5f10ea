#pragma once
// Stimulus constraints (openretina regularizer.py): losses added to the
// optimisation loss, and postprocessors applied to the stimulus after every step.
// Stimuli are (batch, channels, time, height, width) or (batch, channels, height, width).
#include <ATen/core/Tensor.h>

#include <optional>
#include <utility>
#include <vector>

namespace fovea::insilico {

// (min, max) per channel; an absent bound is not enforced.
using ChannelRanges = std::vector<std::pair<std::optional<double>, std::optional<double>>>;

class StimulusRegularizationLoss {
 public:
  virtual ~StimulusRegularizationLoss() = default;
  virtual at::Tensor forward(const at::Tensor& stimulus) = 0;
};

// factor · (Σ_c Σ relu(min_c − x_c) + relu(x_c − max_c) + relu(‖x‖₂ − max_norm)).
class RangeRegularizationLoss : public StimulusRegularizationLoss {
 public:
  RangeRegularizationLoss(ChannelRanges ranges, std::optional<double> max_norm, double factor = 1.0);
  at::Tensor forward(const at::Tensor& stimulus) override;

 private:
  ChannelRanges ranges_;
  std::optional<double> max_norm_;
  double factor_;
};

class StimulusPostprocessor {
 public:
  virtual ~StimulusPostprocessor() = default;
  virtual at::Tensor process(const at::Tensor& stimulus) = 0;
};

// Rescales each sample to L2 norm `norm` (when given), then clamps channel c to
// ranges[c]. The stimulus must have one range per channel (fovea::Error otherwise).
class ChangeNormJointlyClipRangeSeparately : public StimulusPostprocessor {
 public:
  ChangeNormJointlyClipRangeSeparately(ChannelRanges ranges, std::optional<double> norm);
  at::Tensor process(const at::Tensor& stimulus) override;

 private:
  ChannelRanges ranges_;
  std::optional<double> norm_;
};

// Low-pass filter along time: each channel is convolved with the normalised
// Gaussian exp(−x²/2σ²), x = i − kernel_size/2 (integer division), with
// "same" padding (PyTorch's: the extra pad of an even kernel goes at the end).
// Needs 5-D movies.
class TemporalGaussianLowPassFilterProcessor : public StimulusPostprocessor {
 public:
  TemporalGaussianLowPassFilterProcessor(double sigma, int64_t kernel_size);
  at::Tensor process(const at::Tensor& stimulus) override;
  const at::Tensor& kernel() const { return kernel_; }

 private:
  at::Tensor kernel_;  // (kernel_size,) float32
};

}  // namespace fovea::insilico
