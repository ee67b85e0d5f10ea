#pragma once
// fovea's model file: one .safetensors with every parameter and buffer under
// its reference name, and in the metadata:
//   "format": "fovea.model/1"
//   "spec":   the JSON spec (core, readout, input_shape, and what the data
//             pipeline needs: preprocessing, neuron counts, training provenance)
// PyTorch's `safetensors.torch.load_file` reads the weights as they are.
#include <memory>
#include <string>

#include "fovea/nn/model.h"

namespace fovea::nn {

void save_model(const std::string& path, const Model& model);  // atomic
std::shared_ptr<Model> load_model(const std::string& path);

// Importing PyTorch checkpoints of the reference systems.
struct ImportOptions {
  // minimodel state dicts do not record the input size: by default it is
  // inferred from the readout size (33x65 -> 66x130, 16x32 -> 33x65, 40x40 ->
  // 80x80, otherwise twice the readout size when the core pools).
  std::vector<int64_t> input_hw;
};
// Infers a minimodel architecture from the tensor shapes of its state dict:
// layers, widths, kernel sizes, neurons, minimodel or full model, input size.
Json infer_minimodel_spec(const std::vector<std::pair<std::string, at::Tensor>>& state, const std::string& origin,
                          const ImportOptions& options = {});
// Reads a reference checkpoint (a minimodel .pt state dict or an openretina
// Lightning .ckpt), builds the model and loads its weights.
std::shared_ptr<Model> import_checkpoint(const std::string& path, const ImportOptions& options = {});

}  // namespace fovea::nn
