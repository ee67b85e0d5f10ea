// openretina's quick start ("Loading a Pre-trained Model", "Running
// Inference") in C++:
//
//   model = load_core_readout_from_remote("hoefling_2024_base_low_res", "cpu")
//   input_shape = model.stimulus_shape(time_steps=50, num_batches=1)
//   responses = model.forward(torch.rand(input_shape))
//
// usage: retina_quickstart [MODEL]   (a pretrained name, a URL, a .ckpt or a
// .safetensors file; default hoefling_2024_base_low_res, downloaded once)
#include <torch/torch.h>

#include <iostream>

#include "fovea/error.h"
#include "fovea/nn/model_loader.h"

int main(int argc, char** argv) {
  const std::string name = argc > 1 ? argv[1] : "hoefling_2024_base_low_res";
  try {
    auto model = fovea::nn::load_any_model(name);
    model->eval();

    // The appropriate input shape for this model: (batch, channels, time, height, width).
    const auto input_shape = model->stimulus_shape(/*time_steps=*/50, /*num_batches=*/1);
    const at::Tensor stimulus = torch::rand(input_shape);

    torch::NoGradGuard no_grad;
    const at::Tensor responses = model->forward(stimulus);  // every session, concatenated
    std::cout << "stimulus " << stimulus.sizes() << " -> responses " << responses.sizes()
              << " (batch, time, neurons)\n";
    for (const auto& session : model->readout_keys())
      std::cout << "  session " << session << ": " << model->forward(stimulus, session).size(-1) << " neurons\n";
  } catch (const fovea::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
