#pragma once
// The published pretrained models, by openretina's names
// (openretina/models/core_readout.py, _MODEL_NAME_TO_REMOTE_LOCATION).
// They live in the Hugging Face dataset open-retina/open-retina; a name's URL
// is <base>/<path>, where <base> is
//   https://huggingface.co/datasets/open-retina/open-retina/resolve/main
// unless the environment variable FOVEA_MODEL_BASE_URL replaces it (a mirror,
// or a local server in tests).
#include <optional>
#include <string>
#include <vector>

namespace fovea::nn {

struct PretrainedModel {
  std::string name;  // e.g. "hoefling_2024_low_res"
  std::string path;  // relative to the base URL, e.g. "model_checkpoints/2026-03-09/hoefling_2024_cnn_low_res.ckpt"
  bool legacy;       // superseded by a newer training, kept so that old scripts still work
};

// Every known name, current ones first.
const std::vector<PretrainedModel>& pretrained_models();

// FOVEA_MODEL_BASE_URL without a trailing '/', or the Hugging Face default.
std::string model_base_url();

// The download URL of a known name; nullopt for anything else.
std::optional<std::string> pretrained_model_url(const std::string& name);

// The current names, comma-separated, for messages.
std::string known_model_names();

// Hugging Face page URLs (".../tree/main/...", ".../blob/main/...") name a
// page, not the file: turns them into download URLs (".../resolve/main/...").
// Other URLs are returned unchanged.
std::string hugging_face_download_url(const std::string& url);

}  // namespace fovea::nn
