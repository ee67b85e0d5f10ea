#pragma once
// `fovea mei --model M --neuron N` (or --layer L --channel C): most exciting
// inputs of output neurons or inner core channels; writes per target the
// stimulus (.npy), a video (.mp4, movies) and a figure, and mei.json.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fovea/api/progress.h"
#include "fovea/insilico/mei.h"
#include "fovea/nn/model.h"
#include "fovea/viz/mei_outputs.h"

namespace fovea::api {

struct MeiOptions {
  std::string model;                // --model (names a loaded model in messages)
  std::vector<int64_t> neurons;     // --neuron: output neurons of `session` ...
  std::string session;              // --session ("" : the only one)
  std::string layer;                // ... or --layer (e.g. features.layer0) with --channel
  std::vector<int64_t> channels;
  std::string output = "mei";       // -o
  insilico::MeiRecipe recipe;       // --time-steps, --steps, --optimizer, --lr, --init-scale, ... (seed: below)
  std::optional<double> norm;       // --norm
  std::string clip;                 // --clip: per-channel ranges "lo:hi,lo:hi"
  bool hoefling_constraints = false;
  viz::MeiOutputOptions out;        // --format, --fps, --video-scale
  std::string device = "cpu";
  uint64_t seed = 0;
  ProgressCallback progress;        // per MEI written: start_objective, final_objective
};

struct MeiEntry {
  std::string stem;                 // file stem, e.g. "neuron_3" or "features.layer0_channel_2"
  insilico::MeiResult result;       // the stimulus and the objective trace
  viz::MeiFiles files;              // relative to the output folder
};
struct MeiRunResult {
  std::vector<MeiEntry> meis;
  std::string output, summary_json;  // the folder and its mei.json
};

MeiRunResult mei(const MeiOptions& options);
MeiRunResult mei(std::shared_ptr<nn::Model> model, const MeiOptions& options);

}  // namespace fovea::api
