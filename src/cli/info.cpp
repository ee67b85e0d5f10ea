// fovea info MODEL: architecture, parameter counts, sessions (api::info).
#include <iostream>

#include "cli/commands.h"
#include "fovea/api/info.h"

namespace fovea::cli {

void add_info_command(CLI::App& app) {
  auto options = std::make_shared<api::InfoOptions>();
  auto json = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand("info", "print a model's architecture, parameter counts and sessions");
  cmd->add_option("model", options->model, "model: .safetensors, checkpoint (.pt, .ckpt), URL or pretrained name")->required();
  cmd->add_flag("--json", *json, "print the full spec as JSON");
  cmd->callback([options, json] {
    const auto r = api::info(*options);
    if (*json) {
      std::cout << r.spec.dump(2) << "\n";
      return;
    }
    std::cout << "model: " << options->model << "\n";
    std::cout << "family: " << r.spec.value("family", "?") << "\n";
    std::cout << "core: " << r.spec["core"].dump() << "\n";
    std::cout << "readout: " << r.spec["readout"].dump() << "\n";
    std::cout << "input shape: " << r.spec["input_shape"].dump() << "\n";
    for (const auto& [session, neurons] : r.sessions)
      std::cout << "session " << (session.empty() ? "(single)" : session) << ": " << neurons << " neurons\n";
    std::cout << "parameters: " << r.parameters << " (" << r.trainable_parameters << " trainable)\n";
    std::cout << "  core: " << r.core_parameters << ", readout: " << r.readout_parameters << "\n";
    for (const auto& [key, value] : r.provenance) std::cout << key << ": " << value.dump() << "\n";
  });
}

}  // namespace fovea::cli
