// Registers openretina's further readouts, the LNP models and ensembles under
// their spec type names:
//   cores:    dummy_core, ensemble
//   readouts: factorized, klindt (legacy), point_gaussian, lnp, single_cell_separated_lnp, ensemble
// Readout specs take n_neurons_dict (session -> neurons), optionally
// mean_activity_dict (session -> list of N means), and openretina's argument names.
#include <torch/torch.h>

#include "fovea/nn/ensemble.h"
#include "fovea/nn/factorized_readout.h"
#include "fovea/nn/lnp.h"
#include "fovea/nn/point_gaussian_readout.h"
#include "fovea/nn/registry.h"
#include "json_fields.h"
#include "json_tensor.h"

namespace fovea::nn {

namespace {

const std::string kCoreWhere = "model spec 'core'";
const std::string kReadoutWhere = "model spec 'readout'";

void need_retina_shape(const std::vector<int64_t>& s, const std::string& where, const std::string& what) {
  if (s.size() != 4) fail(where, what + " needs (channels, time, height, width), got " + std::to_string(s.size()) + " values");
}

std::map<std::string, int64_t> n_neurons_dict(const Json& spec) {
  return required_field<std::map<std::string, int64_t>>(spec, "n_neurons_dict", kReadoutWhere);
}

const Json& members_of(const Json& spec, const std::string& where) {
  if (!spec.contains("members") || !spec.at("members").is_array() || spec.at("members").empty())
    fail(where, "an ensemble needs 'members': a non-empty list of specs");
  return spec.at("members");
}

}  // namespace

void register_retina_variant_modules() {
  register_core("dummy_core", [](const Json& spec, const std::vector<int64_t>& input_shape) {
    need_retina_shape(input_shape, "model spec 'input_shape'", "the dummy core");
    return std::make_shared<DummyCore>(field<int64_t>(spec, "cut_first_n_frames", 0));
  });

  register_core("ensemble", [](const Json& spec, const std::vector<int64_t>& input_shape) {
    std::vector<std::shared_ptr<Core>> members;
    for (const auto& member : members_of(spec, kCoreWhere)) members.push_back(make_core(member, input_shape));
    return std::make_shared<EnsembleCore>(std::move(members), input_shape);
  });

  auto factorized = [](bool legacy) {
    return [legacy](const Json& spec, const std::vector<int64_t>& s) -> std::shared_ptr<Readout> {
      need_retina_shape(s, kReadoutWhere, "the factorized readout's core output");
      auto options = FactorizedReadoutOptions::from_json(spec);
      options.legacy_klindt = legacy;
      options.validate(kReadoutWhere);
      return std::make_shared<MultiFactorizedReadout>(s, n_neurons_dict(spec), options,
                                                      tensor_dict_from_json(spec, "mean_activity_dict"));
    };
  };
  register_readout("factorized", factorized(false));
  register_readout("klindt", factorized(true));

  register_readout("point_gaussian", [](const Json& spec, const std::vector<int64_t>& s) {
    need_retina_shape(s, kReadoutWhere, "the point Gaussian readout's core output");
    auto options = PointGaussianReadoutOptions::from_json(spec);
    options.validate(kReadoutWhere);
    return std::make_shared<MultiSampledGaussianReadout>(s, n_neurons_dict(spec), options,
                                                         tensor_dict_from_json(spec, "mean_activity_dict"));
  });

  register_readout("lnp", [](const Json& spec, const std::vector<int64_t>& s) {
    need_retina_shape(s, kReadoutWhere, "the LNP readout's core output");
    auto options = LNPReadoutOptions::from_json(spec);
    options.validate(kReadoutWhere);
    return std::make_shared<MultipleLNPReadout>(s, n_neurons_dict(spec), options,
                                                tensor_dict_from_json(spec, "mean_activity_dict"));
  });

  register_readout("single_cell_separated_lnp", [](const Json& spec, const std::vector<int64_t>& s) {
    need_retina_shape(s, kReadoutWhere, "the single-cell LNP model's core output");
    return std::make_shared<SingleCellSeparatedLNP>(SingleCellSeparatedLNPOptions::from_json(spec), s);
  });

  register_readout("ensemble", [](const Json& spec, const std::vector<int64_t>& s) {
    const Json& members = members_of(spec, kReadoutWhere);
    if (s.size() < 2 || s[0] != static_cast<int64_t>(members.size()))
      fail(kReadoutWhere, "an ensemble readout of " + std::to_string(members.size()) +
                              " members needs an ensemble core of as many members");
    const std::vector<int64_t> member_shape(s.begin() + 1, s.end());
    std::vector<std::shared_ptr<Readout>> readouts;
    for (Json member : members) {
      // Shared per-session fields may be given once, for every member.
      for (const char* key : {"n_neurons_dict", "mean_activity_dict"})
        if (member.is_object() && !member.contains(key) && spec.contains(key)) member[key] = spec.at(key);
      readouts.push_back(make_readout(member, member_shape));
    }
    return std::make_shared<EnsembleReadout>(std::move(readouts), member_shape);
  });
}

}  // namespace fovea::nn
