#pragma once
// Per-neuron evaluation of predictions against repeated test responses, as
// minimodel and openretina report it: a CSV with one row per neuron and a
// JSON summary over the neurons that pass the reliability threshold.
#include <ATen/core/Tensor.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fovea/nn/model.h"

namespace fovea::data {
struct V1Dataset;
}

namespace fovea::eval {

// summary["criterion"] of a report without repeated test trials: every neuron is included.
inline constexpr const char* kAllNeuronsCriterion = "all (no repeated trials)";

struct EvaluationReport {
  std::vector<std::string> columns;  // metric names, in table order
  at::Tensor table;                  // (neurons, columns) float64
  at::Tensor included;               // (neurons,) bool: passes the threshold
  nlohmann::json summary;            // means over included neurons, counts, threshold
  // Multi-session reports (retina): the session and in-session index of each
  // row; empty for single-session reports.
  std::vector<std::string> row_session;
  std::vector<int64_t> row_neuron;
  // Cells that cannot be computed (FEV, FEVE, oracle without repeated test
  // trials): (neurons, columns) bool, or undefined when every cell is
  // computed. They hold NaN in `table`, are written as empty CSV cells and
  // summarised as null; summary["note"] says why.
  at::Tensor missing;

  bool is_missing(int64_t row, int64_t column) const;

  at::Tensor column(const std::string& name) const;
};

// `responses` (stimuli, repeats, neurons), `predictions` (stimuli, neurons).
// Columns: fev, feve (minimodel), feve_openretina, var_ratio, corr_to_average,
// oracle_jackknife, per_trial_corr, varexp, poisson_loss_to_average,
// mse_to_average; `truth` (stimuli, neurons), if defined, adds corr_to_truth
// (correlation with the noise-free responses).
// Neurons are included when fev > threshold (criterion "fev", minimodel) or
// var_ratio >= threshold (criterion "var_ratio", openretina). With one repeat
// (no repeated test trials) the noise-ceiling columns (fev, feve,
// feve_openretina, var_ratio, oracle_jackknife) are missing, every neuron is
// included (criterion "all (no repeated trials)", as openretina's eval skips
// its var_ratio filter) and summary["note"] says so.
EvaluationReport evaluate_predictions(const at::Tensor& responses, const at::Tensor& predictions, double threshold,
                                      const std::string& criterion = "fev", const at::Tensor& truth = {});

// Fills summary["mean"] and summary["median"]: per column, over the included
// rows with finite values; null where every included cell is missing.
void add_column_summaries(EvaluationReport& report);

// Runs a V1 model on the dataset's test images and evaluates it.
EvaluationReport evaluate_v1(nn::Model& model, const data::V1Dataset& dataset, const at::Tensor& truth = {},
                             const std::string& device = "cpu");

// Writes the per-neuron CSV and the JSON summary (both atomically).
void write_report(const EvaluationReport& report, const std::string& csv_path, const std::string& json_path);

// Reads a CSV that write_report wrote: the columns, rows, sessions and
// neurons, and the included flags (the summary is left empty). fovea::Error
// naming the file for anything else.
EvaluationReport read_report_csv(const std::string& csv_path);

}  // namespace fovea::eval
