// fovea import FILE -o MODEL.safetensors: convert a reference checkpoint (api::import_model).
#include <iostream>

#include "cli/commands.h"
#include "fovea/api/import.h"

namespace fovea::cli {

void add_import_command(CLI::App& app) {
  auto o = std::make_shared<api::ImportOptions>();
  auto* cmd = app.add_subcommand("import", "convert a minimodel .pt state dict or an openretina .ckpt (a file, URL or pretrained name) into a fovea model file");
  cmd->add_option("file", o->file, "checkpoint: minimodel .pt, openretina .ckpt, a URL, or a pretrained name (e.g. hoefling_2024_base_low_res)")->required();
  cmd->add_option("-o,--output", o->output, "model file to write (.safetensors)")->required();
  cmd->add_option("--input-size", o->input_size, "HxW of the input images (default: inferred from the readout)");
  cmd->callback([o] {
    const auto r = api::import_model(*o);
    const auto& spec = r.model->spec();
    std::cout << "imported " << o->file << " -> " << r.output << "\n"
              << "core: " << spec["core"].dump() << "\n"
              << "readout: " << spec["readout"].dump() << "\n"
              << "input shape: " << spec["input_shape"].dump() << ", " << r.model->n_parameters() << " parameters\n";
  });
}

}  // namespace fovea::cli
