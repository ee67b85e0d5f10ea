// openretina's weight-visualisation listing (the documentation's "Weight
// visualisation" section) in C++:
//
//   model = load_core_readout_from_remote("hoefling_2024_base_low_res", "cpu")
//   conv_layer_figure = model.core.plot_weight_visualization(layer=0, in_channel=1, out_channel=0)
//   session_key = model.readout.readout_keys()[0]
//   readout_figure = model.readout[session_key].plot_weight_for_neuron(5)
//
// The figures are saved into OUTPUT_DIR as conv_layer_figure.png and
// readout_figure.png (Python returns them to the notebook).
//
// usage: weight_visualization [MODEL [OUTPUT_DIR]]   (MODEL: a pretrained
// name, a URL, a .ckpt or a .safetensors file; default
// hoefling_2024_base_low_res, downloaded once; OUTPUT_DIR default
// weight_visualization)
#include <filesystem>
#include <iostream>
#include <string>

#include "fovea/error.h"
#include "fovea/nn/model_loader.h"
#include "fovea/viz/seed_api.h"

namespace {
std::string one_line(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  return s;
}
}  // namespace

int main(int argc, char** argv) {
  const std::string name = argc > 1 ? argv[1] : "hoefling_2024_base_low_res";
  const std::filesystem::path output = argc > 2 ? argv[2] : "weight_visualization";
  try {
    auto model = fovea::nn::load_any_model(name);
    model->eval();

    // A specific channel of the first convolutional layer.
    const fovea::viz::Figure conv_layer_figure =
        fovea::viz::plot_weight_visualization(*model, /*layer=*/0, /*in_channel=*/1, /*out_channel=*/0);
    // The readout weights of a neuron of the first (sorted) session.
    const std::string session_key = model->readout_keys().at(0);
    const fovea::viz::Figure readout_figure = fovea::viz::plot_weight_for_neuron(*model, session_key, 5);

    conv_layer_figure.save(output / "conv_layer_figure.png");
    readout_figure.save(output / "readout_figure.png");
    std::cout << "conv layer 0, in_channel 1, out_channel 0: " << (output / "conv_layer_figure.png").string() << "\n"
              << "session " << session_key << ", neuron 5: " << (output / "readout_figure.png").string() << "\n";
  } catch (const std::exception& e) {  // fovea::Error for bad input; anything else is reported the same way
    std::cerr << "error: " << one_line(e.what()) << "\n";
    return 1;
  }
  return 0;
}
