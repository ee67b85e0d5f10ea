// Registers the V1 cores and readouts under their spec type names.
#include <torch/torch.h>

#include "fovea/nn/registry.h"
#include "fovea/nn/v1_cores.h"
#include "fovea/nn/v1_readouts.h"
#include "json_fields.h"

namespace fovea::nn {

void register_v1_modules() {
  register_core("minimodel_core", [](const Json& spec, const std::vector<int64_t>& input_shape) {
    auto options = MinimodelCoreOptions::from_json(spec);
    if (input_shape.size() != 3 || input_shape[0] != options.in_channels)
      fail("model spec 'input_shape'", "the V1 core needs (channels, height, width) with " +
                                           std::to_string(options.in_channels) + " channel(s)");
    return std::make_shared<MinimodelCore>(options);
  });
  register_core("single_conv", [](const Json& spec, const std::vector<int64_t>& input_shape) {
    return std::make_shared<SingleConvCore>(input_shape.at(0), field<int64_t>(spec, "channels", 32),
                                            field<int64_t>(spec, "kernel_size", 13));
  });
  register_core("block_average", [](const Json& spec, const std::vector<int64_t>&) {
    return std::make_shared<BlockAverageCore>(field<int64_t>(spec, "factor", 1));
  });
  register_readout("rank1", [](const Json& spec, const std::vector<int64_t>& s) {
    if (s.size() != 3) fail("model spec 'readout'", "the rank-1 readout needs a core with (channels, height, width) output");
    return std::make_shared<Rank1Readout>(required_field<int64_t>(spec, "n_neurons", "model spec 'readout'"), s[0],
                                          s[1], s[2], field<double>(spec, "Wc_coef", 0.01),
                                          field<bool>(spec, "bias", true));
  });
  register_readout("ridge", [](const Json& spec, const std::vector<int64_t>& s) {
    int64_t features = 1;
    for (auto d : s) features *= d;
    return std::make_shared<RidgeReadout>(features, required_field<int64_t>(spec, "n_neurons", "model spec 'readout'"));
  });
}

}  // namespace fovea::nn
