#pragma once
// HDF5 files (openretina's data layouts) <-> CPU tensors, through the HDF5 C++ API.
#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

namespace fovea::io {

// Reads a numeric dataset at `path_in_file` ("responses_train",
// "train/response/firing_rate_10ms"). Floating data comes back as float32 or
// float64, integers as int64, in the stored shape (C order).
at::Tensor read_h5_dataset(const std::string& file, const std::string& path_in_file);
bool h5_has(const std::string& file, const std::string& path_in_file);
// Names of the members of a group ("/" for the root), sorted.
std::vector<std::string> h5_members(const std::string& file, const std::string& group);

// Writes datasets into a new file (replacing it atomically); names may contain
// groups ("session_info/celltypes"), which are created.
void write_h5(const std::string& file, const std::vector<std::pair<std::string, at::Tensor>>& datasets);

}  // namespace fovea::io
