// Per-neuron evaluation tables and their summary.
#include "fovea/eval/report.h"

#include <torch/torch.h>

#include <iomanip>
#include <sstream>

#include "fovea/data/v1_dataset.h"
#include "fovea/error.h"
#include "fovea/eval/metrics.h"
#include "fovea/io/atomic_file.h"
#include "fovea/nn/predict.h"

namespace fovea::eval {

at::Tensor EvaluationReport::column(const std::string& name) const {
  for (size_t i = 0; i < columns.size(); ++i)
    if (columns[i] == name) return table.select(1, static_cast<int64_t>(i));
  fail("evaluation report", "no column '" + name + "'");
}

void add_column_summaries(EvaluationReport& r) {
  nlohmann::json means, medians;
  for (size_t i = 0; i < r.columns.size(); ++i) {
    at::Tensor v = r.table.select(1, static_cast<int64_t>(i)).masked_select(r.included);
    v = v.masked_select(torch::isfinite(v));
    means[r.columns[i]] = v.numel() ? v.mean().item<double>() : std::nan("");
    medians[r.columns[i]] = v.numel() ? v.median().item<double>() : std::nan("");
  }
  r.summary["mean"] = means;
  r.summary["median"] = medians;
}

EvaluationReport evaluate_predictions(const at::Tensor& responses, const at::Tensor& predictions, double threshold,
                                      const std::string& criterion, const at::Tensor& truth) {
  check(responses.dim() == 3, "evaluation", "responses must be (stimuli, repeats, neurons)");
  check(predictions.dim() == 2 && predictions.size(0) == responses.size(0) && predictions.size(1) == responses.size(2),
        "evaluation", "predictions must be (stimuli, neurons) matching the responses");
  EvaluationReport r;
  std::vector<at::Tensor> cols;
  auto add = [&](const std::string& name, const at::Tensor& v) {
    r.columns.push_back(name);
    cols.push_back(v.to(torch::kFloat64));
  };
  add("fev", fev(responses));
  add("feve", feve(responses, predictions));
  add("feve_openretina", feve_openretina(responses, predictions));
  add("var_ratio", explainable_variance_ratio(responses));
  add("corr_to_average", correlation_to_average(responses, predictions));
  add("oracle_jackknife", oracle_jackknife(responses));
  add("per_trial_corr", per_trial_correlation(responses, predictions));
  add("varexp", variance_explained(responses, predictions));
  if (truth.defined()) {
    check(truth.sizes() == predictions.sizes(), "evaluation", "the noise-free responses must match the predictions");
    add("corr_to_truth", correlation(truth, predictions));
  }
  r.table = torch::stack(cols, 1);
  if (criterion == "fev")
    r.included = r.column("fev") > threshold;
  else if (criterion == "var_ratio")
    r.included = r.column("var_ratio") >= threshold;
  else
    fail("evaluation", "unknown inclusion criterion '" + criterion + "' (fev or var_ratio)");

  const int64_t n_in = r.included.sum().item<int64_t>();
  r.summary = {{"n_neurons", responses.size(2)}, {"n_included", n_in}, {"criterion", criterion},
               {"threshold", threshold}, {"n_stimuli", responses.size(0)}, {"n_repeats", responses.size(1)}};
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
    for (int64_t c = 0; c < table.size(1); ++c) csv << "," << t[n * table.size(1) + c];
    csv << "," << (included[n].item<bool>() ? 1 : 0) << "\n";
  }
  io::write_file_atomic(csv_path, csv.str());
  io::write_file_atomic(json_path, report.summary.dump(2) + "\n");
}

}  // namespace fovea::eval
