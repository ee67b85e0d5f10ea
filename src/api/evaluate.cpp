#include "fovea/api/evaluate.h"

#include <filesystem>

#include "dataset_evaluation.h"
#include "fovea/api/runtime.h"
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
    r.report = evaluate_retina_dataset(model, o.data.dir, o.test_name, r.threshold, o.device).report;
  } else {
    r.family = "v1";
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
