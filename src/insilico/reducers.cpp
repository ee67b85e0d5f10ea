// Response reducers: mean, and mean over a clipped window.
#include "fovea/insilico/reducers.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <algorithm>

#include "fovea/error.h"

namespace fovea::insilico {

at::Tensor MeanReducer::forward(const at::Tensor& responses) const { return responses.mean(axis_); }

SliceMeanReducer::SliceMeanReducer(int64_t axis, int64_t start, int64_t length)
    : axis_(axis), start_(start), length_(length) {
  check(start >= 0, "SliceMeanReducer", "start must be >= 0, got " + std::to_string(start));
  check(length >= 1, "SliceMeanReducer", "length must be >= 1, got " + std::to_string(length));
}

std::pair<int64_t, int64_t> SliceMeanReducer::window(int64_t size) const {
  const int64_t clipped = std::min(size - start_, length_);
  if (clipped > 0) return {start_, clipped};
  // The window starts past the end: openretina falls back to the start of the axis.
  return {0, std::min(length_, size)};
}

at::Tensor SliceMeanReducer::forward(const at::Tensor& responses) const {
  const int64_t size = responses.size(axis_);
  const auto [start, length] = window(size);
  if (start == start_) return responses.narrow(axis_, start, length).mean(axis_);
  const int64_t fallback = length;
  spdlog::warn("SliceMeanReducer: the responses have {} steps along axis {}, none from start {} on; using start 0 "
               "and length {}",
               size, axis_, start_, fallback);
  return responses.narrow(axis_, 0, fallback).mean(axis_);
}

}  // namespace fovea::insilico
