// Evaluation measures of minimodel (metrics.py) and openretina
// (eval/metrics.py, eval/oracles.py), computed in float64 exactly as the
// references write them, so that parity holds to rounding.
//
// Degenerate neurons never throw. What they return, and why:
//  - fev, feve (minimodel): a neuron with no variance gives NaN (0/0; feve
//    -inf when the prediction differs from the constant), as NumPy does;
//    callers select neurons with `fev > threshold`, which is false for NaN,
//    so such neurons drop out as they do in minimodel.
//  - explainable_variance_ratio, feve_openretina: finite by construction (the
//    1e-9 clips). A constant neuron has ratio 1 (1e-9 / (0 + 1e-9)), exactly
//    what openretina computes, and FEVE 0 (any residual over 1e-9, clipped).
//  - correlations (oracle_jackknife, correlation, correlation_to_average,
//    per_trial_correlation): openretina's eps = 1e-8 in the denominator makes
//    a constant series correlate 0 with everything; any remaining NaN
//    (NaN inputs) becomes 0 where the header says so.
//  - variance_explained: -inf or NaN for a constant neuron (division by a zero
//    variance), as the tutorial's NumPy code gives.
#include "fovea/eval/metrics.h"

#include <torch/torch.h>

#include <cmath>
#include <string>

#include "fovea/error.h"

namespace fovea::eval {
namespace {

// openretina's correlation_numpy epsilon.
constexpr double kCorrelationEps = 1e-8;
// openretina's explainable_vs_total_var epsilon.
constexpr double kVarianceEps = 1e-9;

std::string shape_of(const at::Tensor& t) {
  std::string s = "(";
  for (int64_t d = 0; d < t.dim(); ++d) s += (d ? ", " : "") + std::to_string(t.size(d));
  return s + ")";
}

// Responses as float64 (stimuli, repeats, neurons); at least two repeats,
// because every noise variance here is a ddof-1 variance over repeats.
at::Tensor repeated_responses(const at::Tensor& responses, const char* metric, int64_t min_repeats = 2) {
  check(responses.defined() && responses.dim() == 3, metric,
        "responses must be (stimuli, repeats, neurons), got shape " +
            (responses.defined() ? shape_of(responses) : std::string("undefined")));
  check(responses.size(0) >= 1 && responses.size(2) >= 1, metric,
        "responses " + shape_of(responses) + " hold no stimuli or no neurons");
  check(responses.size(1) >= min_repeats, metric,
        "needs at least " + std::to_string(min_repeats) + " repeats, responses " + shape_of(responses) +
            " have " + std::to_string(responses.size(1)));
  return responses.to(at::kDouble).contiguous();
}

// Predictions as float64 (stimuli, repeats, neurons) broadcast against the
// responses: (stimuli, neurons) is repeated over repeats, as both references do.
at::Tensor broadcast_predictions(const at::Tensor& predictions, const at::Tensor& responses, const char* metric) {
  check(predictions.defined(), metric, "predictions are undefined");
  at::Tensor p = predictions.to(at::kDouble);
  if (p.dim() == 2) {
    check(p.size(0) == responses.size(0) && p.size(1) == responses.size(2), metric,
          "predictions " + shape_of(predictions) + " do not match responses " + shape_of(responses) +
              ": expected (" + std::to_string(responses.size(0)) + ", " + std::to_string(responses.size(2)) + ")");
    return p.unsqueeze(1).expand_as(responses);
  }
  check(p.dim() == 3 && p.sizes() == responses.sizes(), metric,
        "predictions " + shape_of(predictions) + " do not match responses " + shape_of(responses));
  return p;
}

// total = var over all (stimulus, repeat) trials, ddof 1;
// noise = mean over stimuli of the variance over repeats, ddof 1.
void total_and_noise_variance(const at::Tensor& r, at::Tensor& total, at::Tensor& noise) {
  total = r.reshape({-1, r.size(2)}).var(0, /*unbiased=*/true);
  noise = r.var(1, /*unbiased=*/true).mean(0);
}

// mean over all trials of (y - prediction)^2.
at::Tensor mean_squared_error(const at::Tensor& r, const at::Tensor& p) {
  return (r - p).pow(2).reshape({-1, r.size(2)}).mean(0);
}

// openretina's correlation_numpy along axis 0 of two (samples, neurons) arrays:
// mean of the product of the z-scores with std (ddof 0) + eps.
at::Tensor correlation_numpy(const at::Tensor& a, const at::Tensor& b) {
  auto z = [](const at::Tensor& y) {
    return (y - y.mean(0, true)) / (y.std(0, /*unbiased=*/false, true) + kCorrelationEps);
  };
  return (z(a) * z(b)).mean(0);
}

at::Tensor two_dimensional(const at::Tensor& t, const char* metric, const char* what) {
  check(t.defined() && t.dim() == 2, metric,
        std::string(what) + " must be (stimuli, neurons), got shape " + (t.defined() ? shape_of(t) : "undefined"));
  return t.to(at::kDouble);
}

}  // namespace

at::Tensor fev(const at::Tensor& responses) {
  at::Tensor r = repeated_responses(responses, "fev");
  at::Tensor total, noise;
  total_and_noise_variance(r, total, noise);
  return (total - noise) / total;
}

at::Tensor feve(const at::Tensor& responses, const at::Tensor& predictions) {
  at::Tensor r = repeated_responses(responses, "feve");
  at::Tensor p = broadcast_predictions(predictions, r, "feve");
  at::Tensor total, noise;
  total_and_noise_variance(r, total, noise);
  return 1.0 - (mean_squared_error(r, p) - noise) / (total - noise);
}

namespace {
// openretina's explainable_vs_total_var: (ratio, explainable).
std::pair<at::Tensor, at::Tensor> explainable_vs_total_var(const at::Tensor& r) {
  at::Tensor total, noise;
  total_and_noise_variance(r, total, noise);
  at::Tensor explainable = (total - noise).clamp_min(kVarianceEps);
  return {explainable / (total + kVarianceEps), explainable};
}
}  // namespace

at::Tensor explainable_variance_ratio(const at::Tensor& responses) {
  return explainable_vs_total_var(repeated_responses(responses, "explainable_variance_ratio")).first;
}

at::Tensor feve_openretina(const at::Tensor& responses, const at::Tensor& predictions) {
  at::Tensor r = repeated_responses(responses, "feve_openretina");
  at::Tensor p = broadcast_predictions(predictions, r, "feve_openretina");
  auto [ratio, explainable] = explainable_vs_total_var(r);
  // openretina recovers the noise variance by inverting the ratio, which
  // carries the +1e-9 of the denominator into it; do the same for parity.
  at::Tensor total = explainable / ratio;
  at::Tensor noise = total - explainable;
  at::Tensor fev_e = 1.0 - (mean_squared_error(r, p) - noise).clamp_min(0.0) / explainable;
  return fev_e.clamp_min(0.0);
}

at::Tensor oracle_jackknife(const at::Tensor& responses) {
  at::Tensor r = repeated_responses(responses, "oracle_jackknife");
  const int64_t n_repeats = r.size(1);
  // Leave-one-out mean of the other repeats of the same stimulus.
  at::Tensor oracle = at::nan_to_num((r.sum(1, true) - r) / static_cast<double>(n_repeats - 1));
  const int64_t n = r.size(2);
  return at::nan_to_num(correlation_numpy(r.reshape({-1, n}), oracle.reshape({-1, n})), 0.0, 0.0, 0.0);
}

at::Tensor correlation(const at::Tensor& a, const at::Tensor& b) {
  at::Tensor x = two_dimensional(a, "correlation", "first array");
  at::Tensor y = two_dimensional(b, "correlation", "second array");
  check(x.sizes() == y.sizes(), "correlation",
        "arrays of different shapes " + shape_of(a) + " and " + shape_of(b));
  return at::nan_to_num(correlation_numpy(x, y), 0.0, 0.0, 0.0);
}

at::Tensor correlation_to_average(const at::Tensor& responses, const at::Tensor& predictions) {
  at::Tensor r = repeated_responses(responses, "correlation_to_average", 1);
  at::Tensor p = two_dimensional(predictions, "correlation_to_average", "predictions");
  check(p.size(0) == r.size(0) && p.size(1) == r.size(2), "correlation_to_average",
        "predictions " + shape_of(predictions) + " do not match responses " + shape_of(responses));
  return correlation(r.mean(1), p);
}

at::Tensor per_trial_correlation(const at::Tensor& responses, const at::Tensor& predictions) {
  at::Tensor r = repeated_responses(responses, "per_trial_correlation", 1);
  at::Tensor p = broadcast_predictions(predictions, r, "per_trial_correlation");
  at::Tensor sum = at::zeros({r.size(2)}, r.options());
  for (int64_t k = 0; k < r.size(1); ++k) sum += correlation(r.select(1, k), p.select(1, k));
  return sum / static_cast<double>(r.size(1));
}

at::Tensor variance_explained(const at::Tensor& responses, const at::Tensor& predictions) {
  at::Tensor r = repeated_responses(responses, "variance_explained", 1);
  at::Tensor p = broadcast_predictions(predictions, r, "variance_explained");
  at::Tensor variance = r.reshape({-1, r.size(2)}).var(0, /*unbiased=*/false);
  return 1.0 - mean_squared_error(r, p) / variance;
}

at::Tensor poisson_loss_to_average(const at::Tensor& responses, const at::Tensor& predictions) {
  at::Tensor r = repeated_responses(responses, "poisson_loss_to_average", 1);
  at::Tensor p = two_dimensional(predictions, "poisson_loss_to_average", "predictions");
  check(p.size(0) == r.size(0) && p.size(1) == r.size(2), "poisson_loss_to_average",
        "predictions " + shape_of(predictions) + " do not match responses " + shape_of(responses));
  // PoissonLoss3d's eps.
  return (p - r.mean(1) * at::log(p + 1e-16)).mean(0);
}

at::Tensor mse_to_average(const at::Tensor& responses, const at::Tensor& predictions) {
  at::Tensor r = repeated_responses(responses, "mse_to_average", 1);
  at::Tensor p = two_dimensional(predictions, "mse_to_average", "predictions");
  check(p.size(0) == r.size(0) && p.size(1) == r.size(2), "mse_to_average",
        "predictions " + shape_of(predictions) + " do not match responses " + shape_of(responses));
  return (r.mean(1) - p).pow(2).mean(0);
}

std::string noise_ceiling_note(int64_t repeats) {
  return "FEV, FEVE and oracle need ≥ " + std::to_string(kMinRepeatsForNoiseCeiling) +
         " repeats of the test stimulus; this dataset has " + std::to_string(repeats);
}

at::Tensor fev_if_repeated(const at::Tensor& responses) {
  if (responses.defined() && responses.dim() == 3 && responses.size(1) < kMinRepeatsForNoiseCeiling)
    return at::full({responses.size(2)}, std::nan(""), at::kDouble);
  return fev(responses);
}

}  // namespace fovea::eval
