#include "dataset_evaluation.h"

#include <torch/torch.h>

#include <exception>
#include <filesystem>
#include <optional>

#include "fovea/error.h"
#include "fovea/eval/retina_data_check.h"
#include "fovea/eval/retina_report.h"
#include "fovea/io/npy.h"
#include "fovea/train/retina_experiment.h"

namespace fovea::api {

namespace fs = std::filesystem;

std::map<std::string, at::Tensor> read_retina_ground_truth(const std::string& dir,
                                                           const std::vector<std::string>& sessions) {
  std::map<std::string, at::Tensor> truth;
  for (const auto& s : sessions) {
    const fs::path p = fs::path(dir) / "ground_truth" / (s + ".npy");
    if (!fs::exists(p)) return {};
    truth[s] = io::read_npy(p.string()).to(torch::kFloat32);
  }
  return truth;
}

RetinaEvaluation evaluate_retina_dataset(nn::Model& model, const std::string& data_dir, const std::string& test_name,
                                         double var_ratio_cutoff, const std::string& device) {
  if (data_dir.empty()) fail("--data", "a retina model needs the dataset directory (--data DIR)");
  nlohmann::json data = model.spec().value("data", nlohmann::json::object());
  data["dir"] = data_dir;
  auto options = train::retina_data_options(data);
  auto dataset = train::load_retina_data(options);
  eval::check_dataset_fits_model(model, dataset, data_dir);
  RetinaEvaluation out;
  out.sessions = train::split_sessions(dataset, options.split, /*test_only=*/true);
  eval::RetinaEvalOptions eo;
  eo.test_name = !test_name.empty() ? test_name : (options.test_names.size() == 1 ? options.test_names[0] : "");
  eo.var_ratio_cutoff = var_ratio_cutoff;
  eo.device = device;
  out.test_name = eo.test_name;
  out.report = eval::evaluate_retina(model, out.sessions, eo, read_retina_ground_truth(data_dir, dataset.sessions()));
  return out;
}

namespace {
// evaluate_v1 takes the FEV threshold from the model's spec: a threshold
// given for one evaluation is set there for the call and taken back after.
class SpecThreshold {
 public:
  SpecThreshold(nn::Model& model, double threshold) : model_(model), saved_(model.spec()) {
    model.spec()["data"]["fev_threshold"] = threshold;
  }
  ~SpecThreshold() { model_.spec() = saved_; }
  SpecThreshold(const SpecThreshold&) = delete;
  SpecThreshold& operator=(const SpecThreshold&) = delete;

 private:
  nn::Model& model_;
  nlohmann::json saved_;
};
}  // namespace

V1Evaluation evaluate_v1_dataset(nn::Model& model, const V1DataFiles& files, double fev_threshold,
                                 const std::string& device, bool with_truth) {
  const V1DataFiles resolved = resolve_v1_data(files);
  auto load = v1_load_options_for(model, resolved);
  if (fev_threshold >= 0) load.fev_threshold = fev_threshold;
  V1Evaluation out;
  out.dataset = data::load_v1_dataset(load);
  out.fev_threshold = load.fev_threshold;
  const at::Tensor truth = with_truth ? read_v1_truth(resolved, out.dataset) : at::Tensor();
  std::optional<SpecThreshold> threshold;
  if (fev_threshold >= 0) threshold.emplace(model, fev_threshold);
  out.report = eval::evaluate_v1(model, out.dataset, truth, device);
  return out;
}

}  // namespace fovea::api
