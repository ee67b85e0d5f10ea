// Registers openretina's Gaussian mask readout under the spec type "gaussian_mask".
#include <torch/torch.h>

#include "fovea/nn/gaussian_mask_readout.h"
#include "fovea/nn/registry.h"
#include "json_fields.h"

namespace fovea::nn {

void register_gaussian_readouts() {
  register_readout("gaussian_mask", [](const Json& spec, const std::vector<int64_t>& s) {
    const std::string where = "model spec 'readout'";
    if (s.size() != 4)
      fail(where, "the Gaussian mask readout needs a core with (channels, time, height, width) output");
    auto n_neurons_dict = required_field<std::map<std::string, int64_t>>(spec, "n_neurons_dict", where);
    return std::make_shared<MultiGaussianMaskReadout>(s, n_neurons_dict, GaussianMaskReadoutOptions::from_json(spec));
  });
}

}  // namespace fovea::nn
