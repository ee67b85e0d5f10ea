#pragma once
// `fovea export M --format openretina-ckpt|minimodel-pt -o FILE`: a fovea
// model written back in the format of the Python system it belongs to, the
// inverse of `fovea import`:
//  * openretina-ckpt: a Lightning-style checkpoint that openretina's
//    load_core_readout_model (UnifiedCoreReadout.load_from_checkpoint) accepts:
//    `state_dict` under openretina's keys and `hyper_parameters` (in_shape,
//    n_neurons_dict, the core and readout configs with their `_target_`,
//    data_info). The configs are plain dicts, not OmegaConf objects, so that
//    torch.load reads the file without omegaconf installed (Hydra instantiates
//    dicts the same way). Models with a simple_core_wrapper core and a
//    gaussian_mask readout (openretina's core-readout models).
//  * minimodel-pt: the state dict that minimodel's build_model(...) +
//    load_state_dict accepts (minimodel_core + rank1 readout); the
//    build_model call that fits it is in the result.
// Both are torch.save zip archives written atomically (temporary name + rename).
#include <memory>
#include <string>
#include <vector>

#include "fovea/nn/model.h"

namespace fovea::api {

struct ExportOptions {
  std::string model;   // file, URL or pretrained name
  std::string format;  // "openretina-ckpt" or "minimodel-pt"
  std::string output;  // -o: the file to write
};

struct ExportResult {
  std::string output;
  std::string format;
  int64_t n_tensors = 0;    // entries of the state dict written
  std::string python_load;  // how to load it in Python (one line)
};

// The formats export knows, in the order they are listed.
const std::vector<std::string>& export_formats();

ExportResult export_model(const ExportOptions& options);
// The same for a model already loaded (not changed by the call).
ExportResult export_model(const nn::Model& model, const ExportOptions& options);

}  // namespace fovea::api
