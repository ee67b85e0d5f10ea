// The pretrained models' names and where they are published.
#include "fovea/nn/pretrained_models.h"

#include <cstdlib>

namespace fovea::nn {
namespace {

// openretina's table points at the dataset's web pages (".../tree/main/...");
// the files themselves are under ".../resolve/main/...".
constexpr const char* kHuggingFaceBase = "https://huggingface.co/datasets/open-retina/open-retina/resolve/main";

}  // namespace

const std::vector<PretrainedModel>& pretrained_models() {
  static const std::vector<PretrainedModel> models = {
      {"hoefling_2024_low_res", "model_checkpoints/2026-03-09/hoefling_2024_cnn_low_res.ckpt", false},
      {"hoefling_2024_high_res", "model_checkpoints/2026-03-09/hoefling_2024_cnn_high_res.ckpt", false},
      {"karamanlis_2024_mouse", "model_checkpoints/2026-03-09/karamanlis_2024_mouse.ckpt", false},
      {"karamanlis_2024_marmoset", "model_checkpoints/2026-03-09/karamanlis_2024_marmoset.ckpt", false},
      {"maheswaranathan_2023", "model_checkpoints/2026-03-09/maheswaranathan_2023.ckpt", false},
      {"sridhar_2025", "model_checkpoints/2026-03-09/sridhar_2025.ckpt", false},
      {"goldin_2022_axolotl", "model_checkpoints/2026-03-09/goldin_2022_axolotl.ckpt", false},
      {"goldin_2022_mouse", "model_checkpoints/2026-03-09/goldin_2022_mouse.ckpt", false},
      // The models of the first bioRxiv version of the openretina paper
      // (trained 27-11-2025); openretina still lists the first of them.
      {"hoefling_2024_base_low_res", "model_checkpoints/27-11-2025/hoefling_2024_base_low_res.ckpt", true},
      {"hoefling_2024_base_low_res_grey_scale",
       "model_checkpoints/27-11-2025/hoefling_2024_base_low_res_grey_scale.ckpt", true},
      {"hoefling_2024_base_high_res", "model_checkpoints/27-11-2025/hoefling_2024_base_high_res.ckpt", true},
      {"karamanlis_2024_base_mouse", "model_checkpoints/27-11-2025/karamanlis_2024_base_mouse.ckpt", true},
      {"karamanlis_2024_base_marmoset", "model_checkpoints/27-11-2025/karamanlis_2024_base_marmoset.ckpt", true},
  };
  return models;
}

std::string model_base_url() {
  const char* env = std::getenv("FOVEA_MODEL_BASE_URL");
  std::string base = (env && *env) ? std::string(env) : std::string(kHuggingFaceBase);
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base;
}

std::optional<std::string> pretrained_model_url(const std::string& name) {
  for (const auto& m : pretrained_models())
    if (m.name == name) return model_base_url() + "/" + m.path;
  return std::nullopt;
}

std::string known_model_names() {
  std::string names;
  for (const auto& m : pretrained_models()) names += (names.empty() ? "" : ", ") + m.name;
  return names;
}

std::string hugging_face_download_url(const std::string& url) {
  for (const char* host : {"https://huggingface.co/", "http://huggingface.co/"}) {
    if (url.rfind(host, 0) != 0) continue;
    for (const char* page : {"/tree/", "/blob/"}) {
      const auto at = url.find(page);
      if (at != std::string::npos) return url.substr(0, at) + "/resolve/" + url.substr(at + 6);
    }
  }
  return url;
}

}  // namespace fovea::nn
