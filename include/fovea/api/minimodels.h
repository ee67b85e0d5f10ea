#pragma once
// `fovea minimodels --full-model M --data D --neurons LIST`: one minimodel
// per neuron (Du et al. 2025), its first layer copied from the full model and
// frozen; writes minimodel_n<k>.safetensors and summary.csv.
#include <string>
#include <vector>

#include "fovea/api/progress.h"
#include "fovea/api/v1_data.h"
#include "fovea/train/minimodels.h"

namespace fovea::api {

struct MinimodelsOptions {
  std::string full_model;               // the trained full model (a file: each minimodel copies its first layer)
  V1DataFiles data;
  std::vector<int64_t> neurons;
  std::string config;                   // YAML overriding the minimodel recipe ("" : minimodel's)
  std::vector<std::string> overrides;   // key=value
  std::string output = "minimodels";
  std::string device = "cpu";
  uint64_t seed = 0;
  bool resume = false;                  // keep the minimodels already in `output` (a killed run), fit the rest
  // Minimodels trained in one pass (train/minimodel_batch.h); 1: one after another.
  int64_t batch_minimodels = train::kDefaultBatchMinimodels;
  bool quiet = false;                   // no progress bar on stderr
  ProgressCallback progress;            // per minimodel: fev, feve_full, feve_minimodel, channels_used
};

struct MinimodelsResult {
  std::vector<train::MinimodelRow> rows;
  std::string summary_csv;
};

MinimodelsResult minimodels(const MinimodelsOptions& options);

}  // namespace fovea::api
