// Registers the retina modules of openretina: the core "simple_core_wrapper"
// (SimpleCoreWrapper) and the readout "gaussian_mask" (MultiGaussianMaskReadout).
#include <torch/torch.h>

#include "fovea/error.h"
#include "fovea/nn/gaussian_mask_readout.h"
#include "fovea/nn/registry.h"
#include "fovea/nn/retina_core.h"

namespace fovea::nn {

void register_retina_modules() {
  register_core("simple_core_wrapper", [](const Json& spec, const std::vector<int64_t>& input_shape) {
    auto options = SimpleCoreWrapperOptions::from_json(spec);
    if (input_shape.size() != 4)
      fail("model spec 'input_shape'", "a retina core needs (channels, time, height, width)");
    if (options.color_squashing_weights.empty() && input_shape[0] != options.channels.at(0))
      fail("model spec 'core'", "channels[0] = " + std::to_string(options.channels.at(0)) +
                                    " but the input has " + std::to_string(input_shape[0]) + " channels");
    if (!options.color_squashing_weights.empty() &&
        static_cast<int64_t>(options.color_squashing_weights.size()) != input_shape[0])
      fail("model spec 'core'", "color_squashing_weights has " + std::to_string(options.color_squashing_weights.size()) +
                                    " entries, the input has " + std::to_string(input_shape[0]) + " channels");
    return std::make_shared<SimpleCoreWrapper>(options);
  });
  register_gaussian_readouts();
}

}  // namespace fovea::nn
