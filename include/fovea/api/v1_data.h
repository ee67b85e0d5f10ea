#pragma once
// The V1 data a command reads: a dataset directory (as written by `fovea
// simulate v1`: images.npy|images.mat, responses.npz, ground_truth.npz),
// minimodel's published files by mouse name in a folder (--mouse FX10
// --data FOLDER: nat60k_text16.mat, FX10_nat60k_2023_05_16.npz; with
// --textures text16_FX10_2023_05_16.npz), or explicit files (--images,
// --responses, --truth).
#include <ATen/core/Tensor.h>

#include <string>

#include "fovea/data/v1_dataset.h"
#include "fovea/nn/model.h"

namespace fovea::api {

struct V1DataFiles {
  std::string dir, images, responses, truth;
  std::string mouse;      // minimodel's mouse name: its files in `dir` by minimodel's names
  bool textures = false;  // with `mouse`: the texture responses (text16_*.npz)
};

// The file paths filled in from `dir` (and `mouse`) where not given;
// fovea::Error names what is missing (an unknown mouse: the known ones).
V1DataFiles resolve_v1_data(V1DataFiles files);
// The same for evaluating `model`: a folder without generic files (images.npy
// or images.mat) is read as minimodel's published files of the mouse the
// model records (spec data.mouse), unless `files.mouse` names one.
V1DataFiles resolve_v1_data(V1DataFiles files, const nn::Model& model);

// Load options that reproduce the preprocessing recorded in a model's spec
// (for an imported model without one, its input size decides the
// down-sampling), the mouse's crop and trial filter, and the neurons the
// model predicts: spec data.neurons (indices into the file's neurons), or for
// a one-neuron minimodel written before data.neurons was recorded, its
// provenance.neuron.
data::V1LoadOptions v1_load_options_for(const nn::Model& model, const V1DataFiles& resolved);

// The noise-free test responses of `resolved.truth` for the dataset; undefined without a truth file.
at::Tensor read_v1_truth(const V1DataFiles& resolved, const data::V1Dataset& dataset);

}  // namespace fovea::api
