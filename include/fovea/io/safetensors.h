#pragma once
// The safetensors format (https://huggingface.co/docs/safetensors): an 8-byte
// little-endian header length, a JSON header (name -> dtype, shape,
// data_offsets, plus "__metadata__": string -> string), then raw little-endian
// tensor bytes. fovea's one model file. PyTorch's `safetensors` package reads it.
#include <ATen/core/Tensor.h>

#include <map>
#include <string>
#include <vector>

namespace fovea::io {

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

struct SafetensorsContent {
  NamedTensors tensors;                          // in file order
  std::map<std::string, std::string> metadata;   // "__metadata__"
};

SafetensorsContent read_safetensors(const std::string& path);
// Atomic. Supported dtypes: F32, F64, I64, I32, U8, BOOL, I16, I8, F16, BF16.
void write_safetensors(const std::string& path, const NamedTensors& tensors,
                       const std::map<std::string, std::string>& metadata);

}  // namespace fovea::io
