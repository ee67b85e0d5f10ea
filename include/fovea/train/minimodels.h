#pragma once
// Per-neuron "minimodels" (Du et al. 2025): for each neuron, a 16→64 model with
// ReLU, no final 1×1 convolution and a Hoyer-Square penalty on Wc, whose first
// layer is copied from a trained full model and frozen.
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fovea/data/v1_dataset.h"
#include "fovea/nn/model.h"

namespace fovea::train {

// minimodel's recipe (l2_readout 0.2, hs_readout 0.03, Wc_coef 0.2, 16-64) for
// a full model: the first layer's width and kernel come from it.
nlohmann::json default_minimodel_config(const nn::Model& full_model);

struct MinimodelRow {
  int64_t neuron = 0;
  double fev = 0, feve_full = 0, feve_minimodel = 0;
  int64_t channels_used = 0;  // |Wc| > 0.01
  int64_t channels = 0;
  std::string model_path;
};

// Fits one minimodel per listed neuron; writes `<output_dir>/minimodel_n<neuron>.safetensors`
// and `<output_dir>/summary.csv`, and returns the table (in the list's order).
// `on_fitted` is called after each minimodel (in the order they finish) with
// its row and how many of the list are done. Up to `batch_minimodels`
// minimodels train in one pass (minimodel_batch.h) when the recipe allows it
// (minimodel's does, with the fast kernels); 1, or a recipe it does not
// cover, fits them one after another (train_v1). The minimodels are the same
// either way, within float rounding; each file is written when its
// minimodel is done.
// With `resume`, a neuron whose minimodel file is already in `output_dir`
// (a run that was killed) is kept, not fitted again: its row is computed from
// that file. Each fit is seeded on its own, so the others come out as in one
// uninterrupted run.
// How many minimodels train in one pass unless told (`--batch-minimodels`):
// one after another, since on a quiet 2-core Zen 4 a pass of 4 was no faster
// (100 minimodels: 50.5 s against 52.5 s) and peaked at 1.7 GB against
// 0.74 GB (bench/README.md, session 12).
constexpr int64_t kDefaultBatchMinimodels = 1;
using MinimodelCallback = std::function<void(const MinimodelRow& row, size_t done, size_t total)>;
std::vector<MinimodelRow> fit_minimodels(nn::Model& full_model, const std::string& full_model_path,
                                         const data::V1Dataset& dataset, const std::vector<int64_t>& neurons,
                                         const nlohmann::json& config, const std::string& output_dir,
                                         bool show_progress = true, const MinimodelCallback& on_fitted = {},
                                         bool resume = false, int64_t batch_minimodels = kDefaultBatchMinimodels);

}  // namespace fovea::train
