// Saving and loading fovea's .safetensors model file.
#include "fovea/nn/model_file.h"

#include <torch/torch.h>

#include "fovea/error.h"
#include "fovea/io/safetensors.h"

namespace fovea::nn {

namespace {
constexpr const char* kFormat = "fovea.model/1";
}

void save_model(const std::string& path, const Model& model) {
  io::NamedTensors tensors;
  for (auto& [name, t] : model.state_dict()) tensors.emplace_back(name, t.detach().to(torch::kCPU).contiguous());
  io::write_safetensors(path, tensors, {{"format", kFormat}, {"spec", model.spec().dump()}});
}

std::shared_ptr<Model> load_model(const std::string& path) {
  auto content = io::read_safetensors(path);
  auto format = content.metadata.find("format");
  auto spec_text = content.metadata.find("spec");
  if (format == content.metadata.end() || spec_text == content.metadata.end())
    fail(path, "not a fovea model file (no 'format'/'spec' metadata); import foreign checkpoints with `fovea import`");
  if (format->second != kFormat) fail(path, "unsupported model file format '" + format->second + "'");
  Json spec;
  try {
    spec = Json::parse(spec_text->second);
  } catch (const Json::exception& e) {
    fail(path, std::string("the model spec in the metadata is not valid JSON: ") + e.what());
  }
  std::shared_ptr<Model> model;
  try {
    model = build_model(spec);
  } catch (const Error& e) {
    fail(path, e.what());
  }
  model->load_state_dict(content.tensors, path);
  model->eval();
  return model;
}

}  // namespace fovea::nn
