#pragma once
// The evaluation summaries `fovea train` and `fovea eval` print.
#include "fovea/eval/report.h"

namespace fovea::cli {

// Neurons, sessions and the included count (criterion >= threshold), then each column's mean.
void print_retina_summary(const eval::EvaluationReport& report);
// Neurons and the included count (FEV > threshold), then each column's mean.
void print_v1_summary(const eval::EvaluationReport& report, double fev_threshold);

}  // namespace fovea::cli
