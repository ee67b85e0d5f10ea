// fovea info MODEL: architecture, parameter counts, sessions.
#include <torch/torch.h>

#include <iostream>

#include "cli/commands.h"
#include "fovea/nn/model_file.h"
#include "fovea/nn/model_loader.h"

namespace fovea::cli {

void add_info_command(CLI::App& app) {
  auto path = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand("info", "print a model's architecture, parameter counts and sessions");
  cmd->add_option("model", *path, "model: .safetensors, checkpoint (.pt, .ckpt), URL or pretrained name")->required();
  cmd->add_flag("--json", *json, "print the full spec as JSON");
  cmd->callback([path, json] {
    auto model = nn::load_any_model(*path);
    if (*json) {
      std::cout << model->spec().dump(2) << "\n";
      return;
    }
    const auto& spec = model->spec();
    std::cout << "model: " << *path << "\n";
    std::cout << "family: " << spec.value("family", "?") << "\n";
    std::cout << "core: " << spec["core"].dump() << "\n";
    std::cout << "readout: " << spec["readout"].dump() << "\n";
    std::cout << "input shape: " << spec["input_shape"].dump() << "\n";
    for (const auto& s : model->readout_keys())
      std::cout << "session " << (s.empty() ? "(single)" : s) << ": " << model->readout()->n_neurons(s) << " neurons\n";
    std::cout << "parameters: " << model->n_parameters() << " (" << model->n_parameters(true) << " trainable)\n";
    std::cout << "  core: ";
    int64_t core = 0, readout = 0;
    for (const auto& p : model->core()->parameters()) core += p.numel();
    for (const auto& p : model->readout()->parameters()) readout += p.numel();
    std::cout << core << ", readout: " << readout << "\n";
    if (spec.contains("provenance")) {
      const auto& p = spec["provenance"];
      for (const char* k : {"imported_from", "trained_by", "seed", "best_val_varexp", "best_val_correlation", "best_epoch",
                           "epochs_run", "stop_reason"})
        if (p.contains(k)) std::cout << k << ": " << p[k].dump() << "\n";
    }
  });
}

}  // namespace fovea::cli
