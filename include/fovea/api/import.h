#pragma once
// `fovea import FILE -o MODEL.safetensors`: a reference checkpoint
// (minimodel .pt, openretina .ckpt, a URL or a pretrained name) converted
// into one fovea model file.
#include <memory>
#include <string>

#include "fovea/nn/model.h"

namespace fovea::api {

struct ImportOptions {
  std::string file;        // the checkpoint
  std::string output;      // -o: the model file to write
  std::string input_size;  // --input-size HxW of minimodel's images ("" : inferred from the readout)
};

struct ImportResult {
  std::shared_ptr<nn::Model> model;
  std::string output;
};

ImportResult import_model(const ImportOptions& options);

}  // namespace fovea::api
