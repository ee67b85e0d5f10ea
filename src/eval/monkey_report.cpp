// Evaluation tables for recordings with missing test trials (monkey V1).
#include "fovea/eval/monkey_report.h"

#include <ATen/ATen.h>

#include "fovea/error.h"
#include "fovea/eval/metrics_nan.h"

namespace fovea::eval {
namespace {

// Per neuron, Pearson's r between a and b over the rows where a is finite.
at::Tensor masked_correlation(const at::Tensor& a, const at::Tensor& b) {
  at::Tensor valid = a.isfinite();
  at::Tensor zero = at::zeros_like(a);
  at::Tensor n = valid.sum(0).to(at::kDouble);
  at::Tensor ma = at::where(valid, a, zero).sum(0) / n, mb = at::where(valid, b, zero).sum(0) / n;
  at::Tensor da = at::where(valid, a - ma, zero), db = at::where(valid, b - mb, zero);
  return (da * db).sum(0) / ((da * da).sum(0) * (db * db).sum(0)).sqrt();
}

}  // namespace

EvaluationReport evaluate_monkey_predictions(const at::Tensor& responses, const at::Tensor& predictions,
                                             const at::Tensor& repetitions, double threshold) {
  const FevFeve m = monkey_feve(responses, predictions, repetitions);  // checks the shapes
  const at::Tensor counted = first_repetitions(responses, repetitions);
  const at::Tensor average = at::nansum(counted, {1}) / counted.isnan().logical_not().sum(1).to(at::kDouble);
  EvaluationReport r;
  r.columns = {"fev", "feve", "corr_to_average", "repetitions"};
  r.table = at::stack({m.fev, m.feve, masked_correlation(average, predictions.to(at::kDouble)),
                       repetitions.to(at::kDouble)},
                      1);
  r.included = m.fev > threshold;  // NaN: not included
  const int64_t n = responses.size(2);
  r.summary = {{"n_neurons", n},
               {"n_included", r.included.sum().item<int64_t>()},
               {"criterion", "fev"},
               {"threshold", threshold},
               {"n_stimuli", responses.size(0)},
               {"n_repeats", responses.size(1)},
               {"measures", "minimodel's NaN-aware monkey_feve over each neuron's first `repetitions` repeats"},
               {"feve_all_neurons", m.feve.mean().item<double>()}};
  add_column_summaries(r);
  return r;
}

}  // namespace fovea::eval
