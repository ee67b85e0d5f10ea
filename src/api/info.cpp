#include "fovea/api/info.h"

#include "fovea/nn/model_loader.h"

namespace fovea::api {

InfoResult info(const InfoOptions& options) {
  InfoResult r;
  r.model = nn::load_any_model(options.model);
  r.spec = r.model->spec();
  for (const auto& s : r.model->readout_keys()) r.sessions.emplace_back(s, r.model->readout()->n_neurons(s));
  r.parameters = r.model->n_parameters();
  r.trainable_parameters = r.model->n_parameters(true);
  for (const auto& p : r.model->core()->parameters()) r.core_parameters += p.numel();
  for (const auto& p : r.model->readout()->parameters()) r.readout_parameters += p.numel();
  if (r.spec.contains("provenance")) {
    const auto& p = r.spec["provenance"];
    for (const char* k : {"imported_from", "trained_by", "seed", "best_val_varexp", "best_val_correlation",
                          "best_val_poisson_loss",
                          "best_epoch", "epochs_run", "stop_reason"})
      if (p.contains(k)) r.provenance.emplace_back(k, p[k]);
  }
  return r;
}

}  // namespace fovea::api
