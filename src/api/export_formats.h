#pragma once
// The checkpoint each export format writes, as a torch.save object tree
// (src/api/export_openretina.cpp, src/api/export_minimodel.cpp).
#include <string>

#include "fovea/io/pickle.h"
#include "fovea/nn/model.h"

namespace fovea::api {

struct ExportedCheckpoint {
  io::PyRef root;           // what torch.save writes
  int64_t n_tensors = 0;    // entries of its state dict
  std::string python_load;  // one line of Python that loads it
};

// Errors name `origin` (the model) and say which models the format takes.
ExportedCheckpoint openretina_checkpoint(const nn::Model& model, const std::string& origin);
ExportedCheckpoint minimodel_state_dict(const nn::Model& model, const std::string& origin);

// The model's state dict as an OrderedDict of tensors (CPU, detached).
io::PyRef state_dict_object(const nn::Model& model);
// JSON (numbers, strings, arrays, objects, null) as Python values; arrays become lists.
io::PyRef json_to_py(const nn::Json& value);

}  // namespace fovea::api
