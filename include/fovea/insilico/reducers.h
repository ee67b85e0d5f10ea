#pragma once
// Response reducers (openretina insilico/stimulus_optimization/objective.py):
// they turn a response trace into the score an objective maximises.
#include <ATen/core/Tensor.h>

#include <utility>

#include <cstdint>

namespace fovea::insilico {

class ResponseReducer {
 public:
  virtual ~ResponseReducer() = default;
  virtual at::Tensor forward(const at::Tensor& responses) const = 0;
};

// Mean along `axis`.
class MeanReducer : public ResponseReducer {
 public:
  explicit MeanReducer(int64_t axis = 0) : axis_(axis) {}
  at::Tensor forward(const at::Tensor& responses) const override;

 private:
  int64_t axis_;
};

// Mean of `length` entries from `start` along `axis`. The window is clipped to
// the end of the axis; when `start` lies at or beyond the end, it falls back
// to the first min(length, size) entries, as openretina does (it logs a
// warning there; fovea does too, through spdlog).
class SliceMeanReducer : public ResponseReducer {
 public:
  SliceMeanReducer(int64_t axis, int64_t start, int64_t length);
  at::Tensor forward(const at::Tensor& responses) const override;
  // The (start, length) this reducer averages over an axis of `size` steps:
  // the window clipped to the axis, or, when it starts past the end, the
  // first min(length, size) steps (openretina's fallback).
  std::pair<int64_t, int64_t> window(int64_t size) const;

 private:
  int64_t axis_, start_, length_;
};

}  // namespace fovea::insilico
