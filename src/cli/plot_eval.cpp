// fovea plot-eval --eval A/eval.csv [--eval B/eval.csv]: histograms of a
// metric over neurons and, for two models, the neuron-by-neuron scatter (api::plot_eval).
#include <iostream>

#include "cli/commands.h"
#include "fovea/api/plot_eval.h"

namespace fovea::cli {

void add_plot_eval_command(CLI::App& app) {
  auto o = std::make_shared<api::PlotEvalOptions>();
  auto* cmd = app.add_subcommand("plot-eval",
                                 "histograms of evaluation metrics, and a model-vs-model scatter for two eval.csv files");
  cmd->add_option("--eval", o->eval, "eval.csv of `fovea eval` or `fovea train` (once or twice)")->required();
  cmd->add_option("--name", o->name, "a name per --eval (default: the folder of the file)");
  cmd->add_option("--metric", o->metric, "columns to draw")->capture_default_str();
  cmd->add_option("--format", o->format, "figure format: png, svg, pdf or jpg")->capture_default_str()->check(CLI::IsMember({"png", "svg", "pdf", "jpg"}));
  cmd->add_option("-o,--output", o->output, "output folder")->capture_default_str();
  cmd->callback([o] {
    for (const auto& file : api::plot_eval(*o).files) std::cout << "wrote " << file << "\n";
  });
}

}  // namespace fovea::cli
