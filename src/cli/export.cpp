// fovea export M --format openretina-ckpt|minimodel-pt -o FILE: a model back in
// its Python system's checkpoint format (api::export_model).
#include <iostream>

#include "cli/commands.h"
#include "fovea/api/export.h"

namespace fovea::cli {

void add_export_command(CLI::App& app) {
  auto o = std::make_shared<api::ExportOptions>();
  auto* cmd = app.add_subcommand(
      "export", "write a model as an openretina Lightning checkpoint or a minimodel state dict (torch.save format)");
  cmd->add_option("model", o->model, "model: .safetensors, checkpoint (.pt, .ckpt), URL or pretrained name")->required();
  cmd->add_option("--format", o->format,
                  "openretina-ckpt (load_core_readout_model) or minimodel-pt (build_model + load_state_dict)")
      ->required()
      ->check(CLI::IsMember(api::export_formats()));
  cmd->add_option("-o,--output", o->output, "file to write (.ckpt or .pt)")->required();
  cmd->callback([o] {
    const auto r = api::export_model(*o);
    std::cout << "wrote " << r.output << " (" << r.format << ", " << r.n_tensors << " tensors)\n"
              << "load in Python: " << r.python_load << "\n";
  });
}

}  // namespace fovea::cli
