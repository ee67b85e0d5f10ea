#pragma once
// src.index_select(0, rows) for the data path. LibTorch 1.13's CPU
// index_select copies an (N, C, H, W) tensor element by element, which took
// 60 % of a minimodel epoch gathering cached first-conv outputs
// (profile_step minimodel-epoch); a row of a contiguous tensor is one block,
// so this copies one memcpy per row, rows in parallel.
#include <ATen/core/Tensor.h>

namespace fovea::nn {

// Falls back on index_select for other devices, non-contiguous or
// differentiable tensors. A row index out of range is an error.
at::Tensor gather_rows(const at::Tensor& src, const at::Tensor& rows);

}  // namespace fovea::nn
