#pragma once
// NumPy .npy and .npz files <-> CPU tensors.
// Supported dtypes: float32, float64, int64, int32, uint8, bool (and reading
// int16/int8/uint16 widened where torch has the type). C and Fortran order on
// read; the returned tensor is always contiguous in C order. Big-endian data
// is byte-swapped. Writing is always little-endian C order.
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
