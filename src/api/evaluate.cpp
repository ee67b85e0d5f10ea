#include "fovea/api/evaluate.h"

#include <filesystem>

#include "dataset_evaluation.h"
#include "fovea/api/runtime.h"
#include "fovea/error.h"
#include "fovea/io/atomic_file.h"
#include "fovea/nn/model_loader.h"

namespace fovea::api {

EvaluateResult evaluate(const EvaluateOptions& options) {
  check_device(options.device);
  auto model = nn::load_any_model(options.model);
  return evaluate(*model, options);
}

EvaluateResult evaluate(nn::Model& model, const EvaluateOptions& o) {
  check_device(o.device);
  EvaluateResult r;
  if (model.spec().value("family", "") == "retina") {
    r.family = "retina";
    r.threshold = o.threshold >= 0 ? o.threshold : 0.15;  // openretina's explainable/total variance cutoff
    RetinaEvalRequest request;
    request.data_split = o.data_split;
    request.test_name = o.test_name;
    request.var_ratio_cutoff = r.threshold;
    request.device = o.device;
    request.dataset_statistics = o.dataset_statistics;
    r.report = evaluate_retina_dataset(model, o.data.dir, request).report;
    r.report.summary["model_path"] = o.model;  // openretina's EvaluationSummary.model_path
  } else {
    r.family = "v1";
    // minimodel evaluates on the repeated test images only.
    check(o.data_split == "test", "--data-split", "a V1 model is evaluated on its test images: use test (got '" +
                                                      o.data_split + "')");
    check(!o.dataset_statistics, "--dataset-statistics", "is for retina (movie) datasets");
    auto ev = evaluate_v1_dataset(model, o.data, o.threshold, o.device);
    r.threshold = ev.fev_threshold;
    r.report = std::move(ev.report);
  }
  if (!o.output.empty()) {
    namespace fs = std::filesystem;
    io::make_directories(o.output);
    r.csv = (fs::path(o.output) / "eval.csv").string();
    r.json = (fs::path(o.output) / "eval.json").string();
    eval::write_report(r.report, r.csv, r.json);
  }
  return r;
}

}  // namespace fovea::api
