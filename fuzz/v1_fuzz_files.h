#pragma once
// The smallest valid minimodel mouse V1 files (see fovea/data/v1_dataset.h),
// the fixed partners of fuzz_v1's inputs and its seeds: images as minimodel
// publishes them, a MAT v5 file with `img` (Ly 4, Lx 6, 12 images) in
// MATLAB's column-major order (uint8, as the published files; and a single
// precision variant), and the responses .npz of 3 neurons, 30 training trials
// (images 2..11) and 2 test images x 3 repeats, the keys and dtypes of
// minimodel's files.
#include <ATen/ATen.h>
#include <matio.h>

#include <stdexcept>
#include <string>

#include "fovea/io/npy.h"

namespace fovea::fuzz {

inline void write_v1_images_mat(const std::string& path, bool single = false,
                                matio_compression compression = MAT_COMPRESSION_NONE) {
  // (N, Ly, Lx) in C order is MATLAB's (Ly, Lx, N) column-major bytes reversed:
  // permute to (N, Lx, Ly) so that Ly varies fastest.
  const at::Tensor img = at::arange(12 * 4 * 6, at::kFloat).remainder(251).reshape({12, 4, 6});
  at::Tensor column_major = img.permute({0, 2, 1}).contiguous();
  size_t dims[3] = {4, 6, 12};
  mat_t* mat = Mat_CreateVer(path.c_str(), nullptr, MAT_FT_MAT5);
  if (!mat) throw std::runtime_error("cannot create " + path);
  if (!single) column_major = column_major.to(at::kByte);
  matvar_t* v = Mat_VarCreate("img", single ? MAT_C_SINGLE : MAT_C_UINT8, single ? MAT_T_SINGLE : MAT_T_UINT8, 3, dims,
                              column_major.data_ptr(), 0);
  Mat_VarWrite(mat, v, compression);
  Mat_VarFree(v);
  Mat_Close(mat);
}

inline fovea::io::NpzArrays v1_responses() {
  at::manual_seed(5);
  return {{"sp", at::rand({3, 30}, at::kFloat) + 0.1},
          {"istim_sp", at::remainder(at::arange(30, at::kLong) * 7, 10) + 2},
          {"ss_all", at::rand({2, 1, 3}, at::kFloat) * 3.0 + 0.5 * at::rand({2, 3, 3}, at::kFloat)},
          {"istim_ss", at::arange(2, at::kLong)},
          {"xpos", at::arange(3, at::kFloat) * 10.0},
          {"ypos", at::arange(3, at::kFloat) * 5.0}};
}

inline void write_v1_responses(const std::string& path, bool compressed = false) {
  fovea::io::write_npz(path, v1_responses(), compressed);
}

}  // namespace fovea::fuzz
