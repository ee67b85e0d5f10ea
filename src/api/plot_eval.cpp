#include "fovea/api/plot_eval.h"

#include <algorithm>
#include <filesystem>
#include <map>

#include "fovea/error.h"
#include "fovea/eval/report.h"
#include "fovea/viz/evaluation_figures.h"
#include "fovea/viz/weight_figures.h"

namespace fs = std::filesystem;

namespace fovea::api {

namespace {
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

// A name per table: given, else the table's folder (told apart when both are the same).
std::vector<std::string> table_names(const PlotEvalOptions& o) {
  std::vector<std::string> names = o.name;
  for (size_t i = names.size(); i < o.eval.size(); ++i) {
    const std::string folder = fs::path(o.eval[i]).parent_path().filename().string();
    names.push_back(folder.empty() ? "model_" + std::to_string(i + 1) : folder);
  }
  if (names.size() == 2 && names[0] == names[1]) names[0] += "_1", names[1] += "_2";
  return names;
}
}  // namespace

PlotEvalResult plot_eval(const PlotEvalOptions& o) {
  if (o.eval.empty() || o.eval.size() > 2)
    fail("--eval", "give one table (histograms) or two (histograms and the comparison)");
  if (!o.name.empty() && o.name.size() != o.eval.size()) fail("--name", "give one name per --eval");
  const std::vector<std::string> names = table_names(o);
  std::vector<eval::EvaluationReport> reports;
  for (const auto& e : o.eval) reports.push_back(eval::read_report_csv(e));
  PlotEvalResult r;
  for (const auto& metric : o.metric) {
    std::vector<std::map<std::string, double>> by_neuron;
    for (size_t i = 0; i < reports.size(); ++i) {
      by_neuron.push_back(metric_by_neuron(reports[i], metric, o.eval[i]));
      std::vector<double> values;
      for (const auto& [k, v] : by_neuron.back()) values.push_back(v);
      const fs::path file = fs::path(o.output) / (names[i] + "_" + metric + "_histogram." + o.format);
      viz::metric_histogram_figure(values, metric, names[i] + ": " + metric).save(file);
      r.files.push_back(file.string());
    }
    if (reports.size() == 2) {
      std::vector<double> x, y;
      for (const auto& [key, v] : by_neuron[0]) {
        const auto other = by_neuron[1].find(key);
        if (other == by_neuron[1].end()) fail(o.eval[1], "has no row for neuron " + key + " of " + o.eval[0]);
        x.push_back(v), y.push_back(other->second);
      }
      if (by_neuron[1].size() != by_neuron[0].size()) fail(o.eval[0], "the two tables evaluate different neurons");
      const fs::path file = fs::path(o.output) / (names[0] + "_vs_" + names[1] + "_" + metric + "." + o.format);
      viz::model_comparison_figure(x, y, names[0], names[1], metric).save(file);
      r.files.push_back(file.string());
    }
  }
  return r;
}

}  // namespace fovea::api
