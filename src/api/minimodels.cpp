#include "fovea/api/minimodels.h"

#include <filesystem>

#include "fovea/api/runtime.h"
#include "fovea/error.h"
#include "fovea/nn/model_loader.h"
#include "fovea/train/config.h"
#include "fovea/train/config_check.h"

namespace fovea::api {

MinimodelsResult minimodels(const MinimodelsOptions& o) {
  check_device(o.device);
  auto full = nn::load_any_model(o.full_model);
  const V1DataFiles files = resolve_v1_data(o.data);
  train::Json config = train::default_minimodel_config(*full);
  if (!o.config.empty()) config.merge_patch(train::load_config(o.config));
  for (const auto& assignment : o.overrides) train::apply_override(config, assignment);
  config["seed"] = o.seed;
  config["device"] = o.device;
  config["data"] = full->spec().value("data", train::Json::object());
  if (!files.mouse.empty()) config["data"]["mouse"] = files.mouse;  // recorded in each minimodel's spec
  config["data"]["images"] = files.images;
  config["data"]["responses"] = files.responses;
  // The recipe with the full model's data options, checked before the data is read.
  train::validate_config(config, o.config.empty() ? "minimodel recipe" : o.config, o.overrides);
  if (o.neurons.empty()) fail("--neurons", "no neurons listed");
  auto dataset = data::load_v1_dataset(v1_load_options_for(*full, files));
  const train::MinimodelCallback on_fitted = [&](const train::MinimodelRow& row, size_t done, size_t total) {
    if (!o.progress) return;
    o.progress({"minimodel", static_cast<int64_t>(done), static_cast<int64_t>(total),
                {{"neuron", static_cast<double>(row.neuron)}, {"fev", row.fev}, {"feve_full", row.feve_full},
                 {"feve_minimodel", row.feve_minimodel}, {"channels_used", static_cast<double>(row.channels_used)}}});
  };
  MinimodelsResult r;
  r.rows = train::fit_minimodels(*full, o.full_model, dataset, o.neurons, config, o.output, !o.quiet, on_fitted,
                                o.resume, o.batch_minimodels);
  r.summary_csv = (std::filesystem::path(o.output) / "summary.csv").string();
  return r;
}

}  // namespace fovea::api
