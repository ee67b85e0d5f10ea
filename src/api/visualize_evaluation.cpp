#include "visualize_evaluation.h"

#include <torch/torch.h>

#include <fmt/format.h>

#include <algorithm>

#include "dataset_evaluation.h"
#include "fovea/error.h"
#include "fovea/eval/retina_report.h"
#include "fovea/io/atomic_file.h"
#include "fovea/nn/predict.h"
#include "fovea/viz/evaluation_figures.h"
#include "fovea/viz/model_weights.h"
#include "fovea/viz/weight_figures.h"

namespace fs = std::filesystem;

namespace fovea::api {

namespace {

// Recorded (trial-averaged) and predicted test responses of one session, (stimuli or frames, neurons).
struct SessionTraces {
  at::Tensor recorded, predicted;
  std::string xlabel;
};

std::map<std::string, SessionTraces> retina_traces(nn::Model& model, const RetinaEvaluation& ev,
                                                   const std::string& device) {
  std::map<std::string, SessionTraces> out;
  for (const auto& [session, clips] : ev.sessions) {
    const std::string name = ev.test_name.empty() ? clips.test_movies.begin()->first : ev.test_name;
    auto [predicted, lag] = eval::predict_test_movie(model, clips.test_movies.at(name), session, device);
    out[session] = {clips.test_responses.at(name).slice(0, lag), predicted.cpu(), "frame of the test movie"};
  }
  return out;
}

}  // namespace

VisualizeEvaluation evaluate_for_visualize(nn::Model& model, const std::string& data_dir, const fs::path& save_folder,
                                           const std::string& format, const std::string& device,
                                           const std::string& mouse) {
  VisualizeEvaluation out;
  eval::EvaluationReport& report = out.report;
  std::map<std::string, SessionTraces> traces;
  if (model.spec().value("family", "") == "retina") {
    if (!mouse.empty()) fail("--mouse", "names minimodel's mice (V1 data); the model is a retina model");
    auto ev = evaluate_retina_dataset(model, data_dir, "", 0.15, device);
    traces = retina_traces(model, ev, device);
    report = std::move(ev.report);
  } else {
    V1DataFiles files;
    files.dir = data_dir;
    files.mouse = mouse;
    auto ev = evaluate_v1_dataset(model, files, -1, device, /*with_truth=*/false);
    const at::Tensor predicted = nn::predict(model, ev.dataset.test_images(), 100, "", torch::Device(device)).cpu();
    traces[""] = {ev.dataset.test_responses.mean(1), predicted, "test image"};
    report = std::move(ev.report);
  }
  const fs::path dir = save_folder / "evaluation";
  io::make_directories(dir.string());
  eval::write_report(report, (dir / "eval.csv").string(), (dir / "eval.json").string());

  const at::Tensor table = report.table.to(at::kDouble).contiguous();
  for (int64_t row = 0; row < table.size(0); ++row) {
    const std::string session = report.row_session.empty() ? "" : report.row_session[row];
    const int64_t k = report.row_neuron.empty() ? row : report.row_neuron[row];
    auto& neurons = out.page.neurons[session];
    if (static_cast<int64_t>(neurons.size()) <= k) neurons.resize(k + 1);
    for (size_t c = 0; c < report.columns.size(); ++c) neurons[k].metrics[report.columns[c]] = table[row][c].item<double>();
    const auto& t = traces.at(session);
    const std::string file = "evaluation/" + viz::session_folder(session) + "/neuron_" + std::to_string(k) + "." + format;
    viz::prediction_figure(t.recorded.select(1, k), t.predicted.select(1, k),
                           fmt::format("{} neuron {}", session.empty() ? "" : session, k), t.xlabel)
        .save(save_folder / file);
    neurons[k].figures.push_back(file);
  }
  for (const std::string metric : {"feve", "feve_openretina", "corr_to_average"}) {
    const auto it = std::find(report.columns.begin(), report.columns.end(), metric);
    if (it == report.columns.end()) continue;
    // Not computable for these data (FEVE without repeated test trials).
    if (report.missing.defined() && report.missing.select(1, it - report.columns.begin()).all().item<bool>()) continue;
    const auto values = viz::to_vector(report.column(metric));
    const std::string file = "evaluation/" + metric + "_histogram." + format;
    viz::metric_histogram_figure(values, metric, metric + " over all neurons").save(save_folder / file);
    out.page.summary_figures.push_back(file);
  }
  return out;
}

}  // namespace fovea::api
