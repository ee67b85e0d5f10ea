#pragma once
// The evaluation of a V1 model on recordings with missing test trials
// (minimodel's monkey data), with minimodel's NaN-aware monkey_feve.
#include <ATen/core/Tensor.h>

#include "fovea/eval/report.h"

namespace fovea::eval {

// `responses` (stimuli, repeats, neurons) with NaN where a trial is missing,
// `predictions` (stimuli, neurons), `repetitions` (neurons,) the repeats that
// count per neuron. Columns: fev, feve (monkey_feve), corr_to_average
// (Pearson correlation of the prediction with the mean of the counted
// repeats, over the stimuli that have one), repetitions. Neurons with
// fev > threshold are included (criterion "fev"); summary["feve_all_neurons"]
// is the plain mean of feve over every neuron, the number minimodel's
// fullmodel_monkey notebook prints (NaN if any neuron's FEVE is NaN, as np.mean).
EvaluationReport evaluate_monkey_predictions(const at::Tensor& responses, const at::Tensor& predictions,
                                             const at::Tensor& repetitions, double threshold);

}  // namespace fovea::eval
