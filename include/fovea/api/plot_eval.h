#pragma once
// `fovea plot-eval --eval A/eval.csv [--eval B/eval.csv]`: histograms of
// metrics over neurons and, for two tables, the neuron-by-neuron scatter.
#include <string>
#include <vector>

namespace fovea::api {

struct PlotEvalOptions {
  std::vector<std::string> eval;                          // one or two eval.csv
  std::vector<std::string> name;                          // a name per table (default: its folder)
  std::vector<std::string> metric{"feve", "corr_to_average"};
  std::string output = "eval_figures";
  std::string format = "png";
};

struct PlotEvalResult {
  std::vector<std::string> files;  // the figures written, in order
};

PlotEvalResult plot_eval(const PlotEvalOptions& options);

}  // namespace fovea::api
