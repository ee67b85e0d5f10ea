#pragma once
// NumPy .npy and .npz files <-> CPU tensors.
// Supported dtypes: float16, float32, float64, int8, int16, int32, int64,
// uint8, bool; uint16 and uint32 (no torch type) are read widened to int32 and
// int64. Other dtypes are an fovea::Error. C and Fortran order on read; the
// returned tensor is always contiguous in C order. Big-endian data is
// byte-swapped. Header versions 1.0, 2.0 and 3.0 are read. Writing is
// little-endian C order, version 1.0 (2.0 for very long headers), with the
// header padded to 64 bytes as numpy does.
#include <ATen/core/Tensor.h>

#include <map>
#include <string>
#include <vector>

namespace fovea::io {

// Parses the bytes of an .npy file. `origin` names the file in error messages.
at::Tensor parse_npy(const std::string& bytes, const std::string& origin);
std::string serialize_npy(const at::Tensor& tensor);

at::Tensor read_npy(const std::string& path);
void write_npy(const std::string& path, const at::Tensor& tensor);  // atomic

// An .npz archive: key (without ".npy") -> array, in archive order.
using NpzArrays = std::vector<std::pair<std::string, at::Tensor>>;
NpzArrays read_npz(const std::string& path);
// One key of an .npz; fovea::Error "<path>: key '<key>' is missing" if absent.
at::Tensor read_npz_key(const std::string& path, const std::string& key);
std::vector<std::string> npz_keys(const std::string& path);
void write_npz(const std::string& path, const NpzArrays& arrays, bool compress = false);  // atomic

}  // namespace fovea::io
