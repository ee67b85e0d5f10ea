#pragma once
// Progress of a long API call, handed to an optional callback instead of
// printed: the command line and the Python module each show it their way.
#include <cstdint>
#include <functional>
#include <map>
#include <string>

namespace fovea::api {

struct Progress {
  std::string stage;                      // "epoch", "minimodel", "mei", "top_images"
  int64_t step = 0;                       // steps done, 1-based
  int64_t total = 0;                      // steps planned (training: the schedule's epochs; early stopping may end sooner)
  std::map<std::string, double> metrics;  // the step's numbers, e.g. train_loss, val_score, best_val_score
};
using ProgressCallback = std::function<void(const Progress&)>;

}  // namespace fovea::api
