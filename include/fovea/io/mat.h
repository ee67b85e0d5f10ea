#pragma once
// MATLAB .mat files (v5, v7 compressed and v7.3/HDF5) through matio.
#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

namespace fovea::io {

// Reads a numeric variable. The tensor has MATLAB's dimensions in MATLAB's
// order (a 66x264x68000 `img` comes back with sizes {66, 264, 68000}) and is
// contiguous in C order, so t[i][j][k] == img(i+1, j+1, k+1). The dtype follows
// the stored class (double -> float64, single -> float32, uint8 -> uint8,
// logical -> bool, int8/16/32/64 as such; uint16 and uint32 widened to int32
// and int64). Complex, sparse, char, cell, struct and uint64 variables are an
// fovea::Error, as is a missing variable (the message lists the file's).
// mat_variable_names lists v5 files in file order, v7.3 (HDF5) alphabetically.
at::Tensor read_mat_variable(const std::string& path, const std::string& name);
std::vector<std::string> mat_variable_names(const std::string& path);

}  // namespace fovea::io
