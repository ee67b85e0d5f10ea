#pragma once
// Evaluation measures of minimodel and openretina, exactly as they define them.
// `responses` are (stimuli, repeats, neurons): stimuli = images or frames;
// `predictions` are (stimuli, neurons). Inputs of any floating dtype; the
// computation runs in float64 and every result is a float64 tensor (neurons,).
// Predictions may also be (stimuli, repeats, neurons), as openretina allows.
// Measures with a noise variance need at least 2 repeats (the others 1); bad shapes throw
// fovea::Error naming the measure.
//
// A neuron without variance (constant responses) never throws:
//  fev: NaN (0/0, as NumPy gives; `fev > threshold` is false for NaN);
//  feve: NaN or -inf (division by a zero explainable variance, as NumPy);
//  explainable_variance_ratio: 1, as openretina gives (1e-9 / (0 + 1e-9)):
//    filter such neurons on their variance, not on this ratio;
//  feve_openretina: 0 (the residual over an explainable variance of 1e-9,
//    clipped at 0);
//  oracle_jackknife and every correlation: 0 (openretina's std + 1e-8);
//  variance_explained: -inf or NaN (division by a zero variance).
#include <ATen/core/Tensor.h>

#include <string>

namespace fovea::eval {

// minimodel: total = var over all trials (ddof 1); noise = mean over stimuli of
// var over repeats (ddof 1); FEV = (total - noise) / total.
at::Tensor fev(const at::Tensor& responses);
// minimodel: FEVE = 1 - (mse - noise) / (total - noise), unclipped, with
// mse = mean over all trials of (y - prediction)^2.
at::Tensor feve(const at::Tensor& responses, const at::Tensor& predictions);

// openretina: explainable = max(total - noise, 1e-9); ratio = explainable / (total + 1e-9).
at::Tensor explainable_variance_ratio(const at::Tensor& responses);
// openretina: max(0, 1 - max(mse - noise, 0) / explainable).
at::Tensor feve_openretina(const at::Tensor& responses, const at::Tensor& predictions);
// openretina: correlation over all (stimulus, repeat) pairs between each trial
// and the mean of the other repeats of the same stimulus.
at::Tensor oracle_jackknife(const at::Tensor& responses);
// Pearson correlation between the trial average and the prediction, per neuron.
at::Tensor correlation_to_average(const at::Tensor& responses, const at::Tensor& predictions);
// Pearson correlation per neuron between two (stimuli, neurons) arrays; NaN -> 0.
at::Tensor correlation(const at::Tensor& a, const at::Tensor& b);
// Mean over repeats of the per-repeat correlation with the prediction.
at::Tensor per_trial_correlation(const at::Tensor& responses, const at::Tensor& predictions);
// Tutorial "varexp": 1 - mean (y - prediction)^2 / var(y, ddof 0) over all trials.
at::Tensor variance_explained(const at::Tensor& responses, const at::Tensor& predictions);
// openretina's eval: PoissonLoss3d(per_neuron=True) between the prediction and
// the trial average, mean over stimuli of (prediction - average * log(prediction + 1e-16)).
at::Tensor poisson_loss_to_average(const at::Tensor& responses, const at::Tensor& predictions);
// openretina's eval: MSE_numpy, mean over stimuli of (average - prediction)^2.
at::Tensor mse_to_average(const at::Tensor& responses, const at::Tensor& predictions);

// The measures above that need a noise variance (fev, feve, feve_openretina,
// explainable_variance_ratio, oracle_jackknife) need this many repeats.
constexpr int64_t kMinRepeatsForNoiseCeiling = 2;
// One line saying why they are absent for `repeats` repeats of the test stimulus.
std::string noise_ceiling_note(int64_t repeats);
// fev, or NaN per neuron when the responses have fewer than 2 repeats (a
// dataset without repeated test trials).
at::Tensor fev_if_repeated(const at::Tensor& responses);

}  // namespace fovea::eval
