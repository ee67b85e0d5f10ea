#include "fovea/api/visualize.h"

#include <torch/torch.h>

#include "fovea/api/runtime.h"
#include "fovea/error.h"
#include "fovea/nn/hoefling_ensemble.h"
#include "fovea/nn/model_loader.h"
#include "visualize_evaluation.h"

namespace fovea::api {

namespace {
VisualizeRunResult run(std::shared_ptr<nn::Model> model, std::shared_ptr<nn::Model> weights_model,
                       const std::string& name, viz::VisualizeOptions options, const VisualizeOptions& o) {
  if (o.save_folder.empty()) fail("--save-folder", "no folder given");
  const torch::Device device(o.device);
  model->to(device);
  if (weights_model) weights_model->to(device);
  VisualizeRunResult r;
  // A resume the folder's record refuses is refused before the evaluation writes into it.
  if (options.resume) viz::check_visualize_resume(*model, o.save_folder, options, weights_model.get());
  std::optional<VisualizeEvaluation> evaluation;
  if (!o.mouse.empty() && o.data.empty()) fail("--mouse", "names the mouse whose published files --data holds; give --data too");
  if (!o.data.empty())
    evaluation = evaluate_for_visualize(*model, o.data, o.save_folder, options.format, o.device, o.mouse);
  r.result = viz::visualize_model(model, name, o.save_folder, options, evaluation ? &evaluation->page : nullptr,
                                  weights_model);
  if (evaluation) r.evaluation = std::move(evaluation->report);
  return r;
}
}  // namespace

VisualizeRunResult visualize(const VisualizeOptions& o) {
  check_device(o.device);
  if (o.is_hoefling_ensemble_model) {
    if (!o.model_path.empty()) fail("--model-path", "give a model or --is-hoefling-ensemble-model, not both");
    // As openretina: MEIs of the member with centred readouts, weight
    // figures of the same member as stored.
    viz::VisualizeOptions options = o;
    options.weight_layout = viz::WeightLayout::legacy_ensemble;
    return run(nn::load_hoefling_ensemble(o.model_id, /*center=*/true),
               nn::load_hoefling_ensemble(o.model_id, /*center=*/false),
               std::string(nn::kHoeflingEnsembleName) + ":" + std::to_string(o.model_id), options, o);
  }
  if (o.model_path.empty()) fail("--model-path", "give a model (or --is-hoefling-ensemble-model)");
  return run(nn::load_any_model(o.model_path), nullptr, o.model_path, o, o);
}

VisualizeRunResult visualize(std::shared_ptr<nn::Model> model, const VisualizeOptions& o) {
  check_device(o.device);
  return run(std::move(model), nullptr, o.model_path.empty() ? "model" : o.model_path, o, o);
}

}  // namespace fovea::api
