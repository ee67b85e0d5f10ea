// Per-neuron evaluation tables and their summary.
#include "fovea/eval/report.h"

#include <torch/torch.h>

#include <iomanip>
#include <sstream>

#include "fovea/data/v1_dataset.h"
#include "fovea/error.h"
#include "fovea/eval/metrics.h"
#include "fovea/eval/monkey_report.h"
#include "fovea/io/atomic_file.h"
#include "fovea/nn/predict.h"

namespace fovea::eval {

at::Tensor EvaluationReport::column(const std::string& name) const {
  for (size_t i = 0; i < columns.size(); ++i)
    if (columns[i] == name) return table.select(1, static_cast<int64_t>(i));
  fail("evaluation report", "no column '" + name + "'");
}

bool EvaluationReport::is_missing(int64_t row, int64_t column) const {
  return missing.defined() && missing[row][column].item<bool>();
}

void add_column_summaries(EvaluationReport& r) {
  nlohmann::json means, medians;
  for (size_t i = 0; i < r.columns.size(); ++i) {
    const auto c = static_cast<int64_t>(i);
    at::Tensor keep = r.included;
    if (r.missing.defined()) keep = keep & r.missing.select(1, c).logical_not();
    if (r.included.any().item<bool>() && !keep.any().item<bool>()) {
      means[r.columns[i]] = nullptr;  // not computable for these data
      medians[r.columns[i]] = nullptr;
      continue;
    }
    at::Tensor v = r.table.select(1, c).masked_select(keep);
    v = v.masked_select(torch::isfinite(v));
    means[r.columns[i]] = v.numel() ? v.mean().item<double>() : std::nan("");
    medians[r.columns[i]] = v.numel() ? v.median().item<double>() : std::nan("");
  }
  r.summary["mean"] = means;
  r.summary["median"] = medians;
}

namespace {
// The columns that need repeated trials.
const std::vector<std::string>& noise_ceiling_columns() {
  static const std::vector<std::string> names = {"fev", "feve", "feve_openretina", "var_ratio", "oracle_jackknife"};
  return names;
}
}  // namespace

EvaluationReport evaluate_predictions(const at::Tensor& responses, const at::Tensor& predictions, double threshold,
                                      const std::string& criterion, const at::Tensor& truth) {
  check(responses.dim() == 3, "evaluation", "responses must be (stimuli, repeats, neurons)");
  check(predictions.dim() == 2 && predictions.size(0) == responses.size(0) && predictions.size(1) == responses.size(2),
        "evaluation", "predictions must be (stimuli, neurons) matching the responses");
  check(criterion == "fev" || criterion == "var_ratio", "evaluation",
        "unknown inclusion criterion '" + criterion + "' (fev or var_ratio)");
  const int64_t n = responses.size(2), repeats = responses.size(1);
  const bool repeated = repeats >= kMinRepeatsForNoiseCeiling;
  EvaluationReport r;
  std::vector<at::Tensor> cols;
  auto add = [&](const std::string& name, const at::Tensor& v) {
    r.columns.push_back(name);
    cols.push_back(v.to(torch::kFloat64));
  };
  const at::Tensor absent = torch::full({n}, std::nan(""), torch::kFloat64);
  add("fev", repeated ? fev(responses) : absent);
  add("feve", repeated ? feve(responses, predictions) : absent);
  add("feve_openretina", repeated ? feve_openretina(responses, predictions) : absent);
  add("var_ratio", repeated ? explainable_variance_ratio(responses) : absent);
  add("corr_to_average", correlation_to_average(responses, predictions));
  add("oracle_jackknife", repeated ? oracle_jackknife(responses) : absent);
  add("per_trial_corr", per_trial_correlation(responses, predictions));
  add("varexp", variance_explained(responses, predictions));
  add("poisson_loss_to_average", poisson_loss_to_average(responses, predictions));
  add("mse_to_average", mse_to_average(responses, predictions));
  if (truth.defined()) {
    check(truth.sizes() == predictions.sizes(), "evaluation", "the noise-free responses must match the predictions");
    add("corr_to_truth", correlation(truth, predictions));
  }
  r.table = torch::stack(cols, 1);
  std::string used = criterion;
  if (!repeated) {
    r.missing = torch::zeros({n, static_cast<int64_t>(r.columns.size())}, torch::kBool);
    for (size_t c = 0; c < r.columns.size(); ++c)
      for (const auto& name : noise_ceiling_columns())
        if (r.columns[c] == name) r.missing.select(1, static_cast<int64_t>(c)).fill_(true);
    r.included = torch::ones({n}, torch::kBool);
    used = kAllNeuronsCriterion;
  } else if (criterion == "fev") {
    r.included = r.column("fev") > threshold;
  } else {
    r.included = r.column("var_ratio") >= threshold;
  }

  const int64_t n_in = r.included.sum().item<int64_t>();
  r.summary = {{"n_neurons", n},           {"n_included", n_in},         {"criterion", used},
               {"threshold", threshold},   {"n_stimuli", responses.size(0)}, {"n_repeats", repeats}};
  if (!repeated) r.summary["note"] = noise_ceiling_note(repeats);
  add_column_summaries(r);
  return r;
}

EvaluationReport evaluate_v1(nn::Model& model, const data::V1Dataset& dataset, const at::Tensor& truth,
                             const std::string& device) {
  at::Tensor predictions = nn::predict(model, dataset.test_images(), 100, "", torch::Device(device));
  check(predictions.size(1) == dataset.n_neurons(), dataset.origin,
        "the data has " + std::to_string(dataset.n_neurons()) + " neurons, the model predicts " +
            std::to_string(predictions.size(1)));
  double threshold = 0.15;
  if (model.spec().contains("data") && model.spec()["data"].contains("fev_threshold"))
    threshold = model.spec()["data"]["fev_threshold"].get<double>();
  if (dataset.repetitions.defined())  // missing test trials (monkey): minimodel's NaN-aware monkey_feve
    return evaluate_monkey_predictions(dataset.test_responses, predictions, dataset.repetitions, threshold);
  return evaluate_predictions(dataset.test_responses, predictions, threshold, "fev", truth);
}

void write_report(const EvaluationReport& report, const std::string& csv_path, const std::string& json_path) {
  std::ostringstream csv;
  const bool sessions = !report.row_session.empty();
  csv << (sessions ? "session,neuron" : "neuron");
  for (const auto& c : report.columns) csv << "," << c;
  csv << ",included\n" << std::setprecision(9);
  auto table = report.table.contiguous();
  auto included = report.included.contiguous();
  const double* t = table.data_ptr<double>();
  for (int64_t n = 0; n < table.size(0); ++n) {
    if (sessions)
      csv << report.row_session.at(static_cast<size_t>(n)) << "," << report.row_neuron.at(static_cast<size_t>(n));
    else
      csv << n;
    for (int64_t c = 0; c < table.size(1); ++c) {
      csv << ",";
      if (!report.is_missing(n, c)) csv << t[n * table.size(1) + c];
    }
    csv << "," << (included[n].item<bool>() ? 1 : 0) << "\n";
  }
  io::write_file_atomic(csv_path, csv.str());
  io::write_file_atomic(json_path, report.summary.dump(2) + "\n");
}

EvaluationReport read_report_csv(const std::string& csv_path) {
  std::istringstream in(io::read_file(csv_path));
  auto split = [](const std::string& line) {
    std::vector<std::string> cells;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, ',')) cells.push_back(cell);
    return cells;
  };
  std::string line;
  if (!std::getline(in, line)) fail(csv_path, "the evaluation table is empty");
  auto header = split(line);
  const bool sessions = !header.empty() && header[0] == "session";
  const size_t first = sessions ? 2 : 1;
  if (header.size() < first + 1 || header[first - 1] != "neuron" || header.back() != "included")
    fail(csv_path, "not an evaluation table of fovea eval (expected the columns [session,]neuron,...,included)");
  EvaluationReport r;
  r.columns.assign(header.begin() + static_cast<long>(first), header.end() - 1);
  std::vector<double> values;
  std::vector<uint8_t> included, missing;
  int64_t row = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    ++row;
    const auto cells = split(line);
    if (cells.size() != header.size())
      fail(csv_path, "row " + std::to_string(row) + " has " + std::to_string(cells.size()) + " cells, the header " +
                         std::to_string(header.size()));
    try {
      if (sessions) r.row_session.push_back(cells[0]);
      r.row_neuron.push_back(std::stoll(cells[first - 1]));
      for (size_t c = first; c + 1 < cells.size(); ++c) {
        missing.push_back(cells[c].empty());  // a measure these data cannot give
        values.push_back(cells[c].empty() ? std::nan("") : std::stod(cells[c]));
      }
      included.push_back(std::stoi(cells.back()) != 0);
    } catch (const std::exception&) {
      fail(csv_path, "row " + std::to_string(row) + " has a cell that is not a number");
    }
  }
  const int64_t n = static_cast<int64_t>(included.size()), m = static_cast<int64_t>(r.columns.size());
  r.table = at::from_blob(values.data(), {n, m}, at::kDouble).clone();
  r.included = at::from_blob(included.data(), {n}, at::kByte).to(at::kBool);
  at::Tensor gaps = at::from_blob(missing.data(), {n, m}, at::kByte).to(at::kBool);
  if (gaps.any().item<bool>()) r.missing = gaps;
  if (!sessions) r.row_neuron.clear();
  return r;
}

}  // namespace fovea::eval
