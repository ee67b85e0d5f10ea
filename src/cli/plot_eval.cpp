// fovea plot-eval --eval A/eval.csv [--eval B/eval.csv]: histograms of a
// metric over neurons and, for two models, the neuron-by-neuron scatter.
#include <torch/torch.h>

#include <filesystem>
#include <iostream>
#include <algorithm>
#include <map>

#include "cli/commands.h"
#include "fovea/error.h"
#include "fovea/eval/report.h"
#include "fovea/viz/evaluation_figures.h"
#include "fovea/viz/weight_figures.h"

namespace fs = std::filesystem;

namespace fovea::cli {

namespace {
struct PlotEvalArgs {
  std::vector<std::string> evals, names, metrics{"feve", "corr_to_average"};
  std::string output = "eval_figures", format = "png";
};

// The metric per (session, neuron) key of one table.
std::map<std::string, double> metric_by_neuron(const eval::EvaluationReport& r, const std::string& metric,
                                               const std::string& file) {
  const auto it = std::find(r.columns.begin(), r.columns.end(), metric);
  if (it == r.columns.end()) {
    std::string known;
    for (const auto& c : r.columns) known += (known.empty() ? "" : ", ") + c;
    fail(file, "has no column '" + metric + "'; its columns are: " + known);
  }
  const auto values = viz::to_vector(r.column(metric));
  std::map<std::string, double> out;
  for (size_t i = 0; i < values.size(); ++i) {
    const std::string session = r.row_session.empty() ? "" : r.row_session[i];
    const int64_t neuron = r.row_neuron.empty() ? static_cast<int64_t>(i) : r.row_neuron[i];
    out[session + "/" + std::to_string(neuron)] = values[i];
  }
  return out;
}

void run_plot_eval(PlotEvalArgs& a) {
  if (a.evals.size() > 2) fail("--eval", "give one table (histograms) or two (histograms and the comparison)");
  if (!a.names.empty() && a.names.size() != a.evals.size()) fail("--name", "give one name per --eval");
  std::vector<std::string> names = a.names;
  for (size_t i = names.size(); i < a.evals.size(); ++i)
    names.push_back(fs::path(a.evals[i]).parent_path().filename().string().empty()
                        ? "model_" + std::to_string(i + 1)
                        : fs::path(a.evals[i]).parent_path().filename().string());
  if (names.size() == 2 && names[0] == names[1]) names[0] += "_1", names[1] += "_2";
  std::vector<eval::EvaluationReport> reports;
  for (const auto& e : a.evals) reports.push_back(eval::read_report_csv(e));
  for (const auto& metric : a.metrics) {
    std::vector<std::map<std::string, double>> by_neuron;
    for (size_t i = 0; i < reports.size(); ++i) {
      by_neuron.push_back(metric_by_neuron(reports[i], metric, a.evals[i]));
      std::vector<double> values;
      for (const auto& [k, v] : by_neuron.back()) values.push_back(v);
      const fs::path file = fs::path(a.output) / (names[i] + "_" + metric + "_histogram." + a.format);
      viz::metric_histogram_figure(values, metric, names[i] + ": " + metric).save(file);
      std::cout << "wrote " << file.string() << "\n";
    }
    if (reports.size() == 2) {
      std::vector<double> x, y;
      for (const auto& [key, v] : by_neuron[0]) {
        const auto other = by_neuron[1].find(key);
        if (other == by_neuron[1].end()) fail(a.evals[1], "has no row for neuron " + key + " of " + a.evals[0]);
        x.push_back(v), y.push_back(other->second);
      }
      if (by_neuron[1].size() != by_neuron[0].size())
        fail(a.evals[0], "the two tables evaluate different neurons");
      const fs::path file = fs::path(a.output) / (names[0] + "_vs_" + names[1] + "_" + metric + "." + a.format);
      viz::model_comparison_figure(x, y, names[0], names[1], metric).save(file);
      std::cout << "wrote " << file.string() << "\n";
    }
  }
}
}  // namespace

void add_plot_eval_command(CLI::App& app) {
  auto args = std::make_shared<PlotEvalArgs>();
  auto* cmd = app.add_subcommand("plot-eval",
                                 "histograms of evaluation metrics, and a model-vs-model scatter for two eval.csv files");
  cmd->add_option("--eval", args->evals, "eval.csv of `fovea eval` or `fovea train` (once or twice)")->required();
  cmd->add_option("--name", args->names, "a name per --eval (default: the folder of the file)");
  cmd->add_option("--metric", args->metrics, "columns to draw")->capture_default_str();
  cmd->add_option("--format", args->format, "figure format: png, svg, pdf or jpg")->capture_default_str()->check(CLI::IsMember({"png", "svg", "pdf", "jpg"}));
  cmd->add_option("-o,--output", args->output, "output folder")->capture_default_str();
  cmd->callback([args] { run_plot_eval(*args); });
}

}  // namespace fovea::cli
