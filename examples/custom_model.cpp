// openretina's "Creating Custom Models" listing in C++: a core and a readout
// written by the user (custom_modules.cpp), registered by type name, composed
// into a model from a spec, run, saved and loaded like the built-in ones.
// The same custom_modules.cpp is built as the plugin libcustom_modules.so, so
// the saved model works on the command line too:
//   fovea --plugin build/examples/libcustom_modules.so info OUTPUT.safetensors
//
// usage: custom_model [OUTPUT.safetensors]
#include <torch/torch.h>

#include <iostream>

#include "fovea/nn/model_file.h"
#include "fovea/nn/registry.h"

int main(int argc, char** argv) {
  using fovea::nn::Json;
  // The custom core and readout together, then the custom core with fovea's
  // Gaussian mask readout (one readout per session).
  const Json custom = {{"core", {{"type", "my_custom_core"}, {"hidden_channels", 32}}},
                       {"readout", {{"type", "my_custom_readout"}, {"num_neurons", 150}}},
                       {"input_shape", {2, 50, 16, 18}}};
  const Json mixed = {{"core", {{"type", "my_custom_core"}, {"hidden_channels", 32}}},
                      {"readout", {{"type", "gaussian_mask"}, {"n_neurons_dict", {{"session_1", 150}}}}},
                      {"input_shape", {2, 50, 16, 18}}};
  torch::NoGradGuard no_grad;
  for (const auto& spec : {custom, mixed}) {
    auto model = fovea::nn::build_model(spec);
    model->eval();
    const at::Tensor responses = model->forward(torch::rand(model->stimulus_shape(50)));
    std::cout << spec["core"]["type"].get<std::string>() << " + " << spec["readout"]["type"].get<std::string>()
              << ": responses " << responses.sizes() << ", " << model->n_parameters() << " parameters\n";
    if (argc > 1 && spec == mixed) {
      fovea::nn::save_model(argv[1], *model);
      std::cout << "saved " << argv[1] << "\n";
    }
  }
  return 0;
}
