#pragma once
// minimodel's NaN-aware evaluation measures (metrics.py: fev_nan, feve_nan,
// monkey_feve), for recordings where some trials are missing (NaN), such as
// the monkey V1 data of Cadena et al. 2019.
// `responses` are (stimuli, repeats, neurons) with NaN where a trial is
// missing (fovea's layout; minimodel's monkey_feve takes (repeats, stimuli,
// neurons): permute(1, 0, 2)); `predictions` are (stimuli, neurons). Inputs of
// any floating dtype; computed in float64; results are float64 (neurons,).
// As NumPy's nanvar/nanmean: a variance (ddof 1) over fewer than 2 values and
// a mean over no values are NaN; the NaN propagates into FEV/FEVE.
#include <ATen/core/Tensor.h>

namespace fovea::eval {

// fev_nan: total = nanvar over all trials (ddof 1); noise = nanmean over
// stimuli of the nanvar over repeats (ddof 1); FEV = (total - noise) / total.
at::Tensor fev_nan(const at::Tensor& responses);

struct FevFeve {
  at::Tensor fev, feve;  // (neurons,) float64
};

// feve_nan: as fev_nan, and FEVE = 1 - (mse - noise) / (total - noise) with
// mse = nanmean over all trials of (y - prediction)^2; multi_repeats = false
// sets noise = 0 (minimodel's flag).
FevFeve feve_nan(const at::Tensor& responses, const at::Tensor& predictions, bool multi_repeats = true);

// monkey_feve: per neuron n, the same over its first repetitions[n] repeats
// only (minimodel slices spks[:repetitions[n], :, n]; later repeats are
// ignored even where they hold values). `repetitions` (neurons,) integers >= 0;
// values above the number of repeats take every repeat, as Python's slicing.
FevFeve monkey_feve(const at::Tensor& responses, const at::Tensor& predictions, const at::Tensor& repetitions);
// The FEV that monkey_feve returns, without predictions.
at::Tensor monkey_fev(const at::Tensor& responses, const at::Tensor& repetitions);

// The responses with every repeat at or after repetitions[n] set to NaN for
// neuron n: what monkey_feve evaluates (also used for the trial averages).
at::Tensor first_repetitions(const at::Tensor& responses, const at::Tensor& repetitions);

}  // namespace fovea::eval
