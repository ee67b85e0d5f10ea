// openretina's "Optimised Stimuli" listing in C++:
//
//   model = load_core_readout_from_remote("hoefling_2024_base_low_res", "cpu")
//   objective = IncreaseObjective(model, neuron_indices=[10], data_key="session_2_ventral2_20201016",
//                                 response_reducer=SliceMeanReducer(axis=0, start=10, length=10))
//   stimulus = torch.randn(model.stimulus_shape(time_steps=40), requires_grad=True)
//   stimulus.data = stimulus.data * 0.1
//   optimize_stimulus(stimulus=stimulus, optimizer_init_fn=partial(torch.optim.SGD, lr=100.0),
//                     objective_object=objective, optimization_stopper=OptimizationStopper(max_iterations=10))
//   save_stimulus_to_mp4_video(stimulus[0], "mei.mp4")
//   fig, axes = plt.subplots(2, 2, figsize=(7 * 3, 12))
//   plot_stimulus_composition(stimulus[0], axes[0,0], axes[0,1], axes[1,0])
//
// Writes OUTPUT_DIR/mei.mp4 and OUTPUT_DIR/mei_composition.png, and prints the
// objective before and after the optimisation.
//
// usage: optimise_stimulus [MODEL [OUTPUT_DIR [SESSION [NEURON]]]]
//   MODEL       a pretrained name, a URL, a .ckpt or a .safetensors file
//               (default hoefling_2024_base_low_res, downloaded once)
//   OUTPUT_DIR  default optimise_stimulus
//   SESSION     default session_2_ventral2_20201016 when the model has it,
//               else its first session (sorted)
//   NEURON      default 10
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include "fovea/error.h"
#include "fovea/insilico/objectives.h"
#include "fovea/insilico/optimize.h"
#include "fovea/insilico/reducers.h"
#include "fovea/insilico/stoppers.h"
#include "fovea/nn/model_loader.h"
#include "fovea/viz/stimulus_figures.h"
#include "fovea/viz/video.h"

namespace {
std::string one_line(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  return s;
}
}  // namespace

int main(int argc, char** argv) {
  using namespace fovea;
  const std::string name = argc > 1 ? argv[1] : "hoefling_2024_base_low_res";
  const std::filesystem::path output = argc > 2 ? argv[2] : "optimise_stimulus";
  try {
    int64_t neuron = 10;
    if (argc > 4) {
      size_t used = 0;
      try {
        neuron = std::stoll(argv[4], &used);
      } catch (const std::exception&) {
        used = 0;
      }
      check(used > 0 && used == std::string(argv[4]).size(), "NEURON", std::string("'") + argv[4] + "' is not an integer");
    }
    auto model = nn::load_any_model(name);
    model->eval();
    const auto sessions = model->readout_keys();
    std::string session = "session_2_ventral2_20201016";
    if (argc > 3) session = argv[3];
    else if (std::find(sessions.begin(), sessions.end(), session) == sessions.end()) session = sessions.at(0);

    // The activity of one neuron, averaged over the response frames 10..19.
    insilico::IncreaseObjective objective(model, {neuron}, session,
                                          std::make_shared<insilico::SliceMeanReducer>(/*axis=*/0, /*start=*/10,
                                                                                       /*length=*/10));

    // A random start with standard deviation 0.1.
    torch::manual_seed(0);
    at::Tensor stimulus = (torch::randn(model->stimulus_shape(/*time_steps=*/40)) * 0.1).set_requires_grad(true);

    // Gradient ascent: SGD with lr 100, 10 steps.
    insilico::OptimizationStopper stopper(/*max_iterations=*/10);
    const auto trace = insilico::optimize_stimulus(
        stimulus,
        [](std::vector<at::Tensor> params) {
          return std::make_unique<torch::optim::SGD>(params, torch::optim::SGDOptions(100.0));
        },
        objective, stopper);
    double final_objective = 0;
    {
      torch::NoGradGuard no_grad;
      final_objective = objective.forward(stimulus).item<double>();
    }

    // The stimulus as a video and its decomposition into temporal and spatial components.
    std::filesystem::create_directories(output);
    viz::write_stimulus_video(stimulus[0], output / "mei.mp4", /*fps=*/5);
    viz::stimulus_composition_figure(stimulus[0], "").save(output / "mei_composition.png");

    std::cout << "session " << session << ", neuron " << neuron << "\n"
              << "objective " << trace.front() << " -> " << final_objective << " after " << trace.size()
              << " steps\n"
              << "video: " << (output / "mei.mp4").string() << "\n"
              << "composition: " << (output / "mei_composition.png").string() << "\n";
  } catch (const std::exception& e) {  // fovea::Error for bad input; anything else is reported the same way
    std::cerr << "error: " << one_line(e.what()) << "\n";
    return 1;
  }
  return 0;
}
