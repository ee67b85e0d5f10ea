#pragma once
// One entry point for every way of naming a model: a fovea .safetensors file,
// a reference checkpoint (minimodel .pt, openretina .ckpt), an http(s) URL of
// either (downloaded once into the cache, a .zip unpacked), or a pretrained
// model's name ("hoefling_2024_low_res", see pretrained_models.h).
#include <memory>
#include <string>

#include "fovea/io/download.h"
#include "fovea/nn/model_file.h"

namespace fovea::nn {

// The local file behind a name, URL or path, downloading it if needed. In
// order: a URL; a known model name (as openretina, a name wins over a file of
// the same name); an existing file. Anything else throws fovea::Error:
// "unknown model 'xyz' (known names: ...)" for a bare word, "<path>: no such
// file" for something that looks like a path.
std::string locate_model_file(const std::string& name_url_or_path, const io::DownloadOptions& download = {});

// True for fovea's model files: a .safetensors name, or a file that starts
// like one (8-byte header length, then '{'), whatever it is called.
bool is_safetensors_file(const std::string& path);

// Loads a fovea model file with load_model and anything else with
// import_checkpoint, after locate_model_file. "hoefling_2024_ensemble[:N]"
// and a folder of ensemble files (config_00000.yaml, ...) load the Höfling
// 2024 ensemble or one member of it (hoefling_ensemble.h).
std::shared_ptr<Model> load_any_model(const std::string& name_url_or_path, const ImportOptions& options = {},
                                      const io::DownloadOptions& download = {});

}  // namespace fovea::nn
