// fovea import FILE -o MODEL.safetensors: convert a reference checkpoint.
#include <torch/torch.h>

#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "fovea/error.h"
#include "fovea/io/atomic_file.h"
#include "fovea/nn/model_file.h"
#include "fovea/nn/model_loader.h"

namespace fovea::cli {

void add_import_command(CLI::App& app) {
  struct Args {
    std::string input, output, input_size;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("import", "convert a minimodel .pt state dict or an openretina .ckpt (a file, URL or pretrained name) into a fovea model file");
  cmd->add_option("file", args->input, "checkpoint: minimodel .pt, openretina .ckpt, a URL, or a pretrained name (e.g. hoefling_2024_base_low_res)")->required();
  cmd->add_option("-o,--output", args->output, "model file to write (.safetensors)")->required();
  cmd->add_option("--input-size", args->input_size, "HxW of the input images (default: inferred from the readout)");
  cmd->callback([args] {
    nn::ImportOptions options;
    if (!args->input_size.empty()) {
      int h = 0, w = 0;
      char x = 0;
      std::istringstream in(args->input_size);
      if (!(in >> h >> x >> w) || (x != 'x' && x != 'X') || h <= 0 || w <= 0)
        fail("--input-size", "expected HxW, e.g. 66x130, got '" + args->input_size + "'");
      options.input_hw = {h, w};
    }
    auto model = nn::load_any_model(args->input, options);
    const auto parent = std::filesystem::path(args->output).parent_path();
    if (!parent.empty()) io::make_directories(parent.string());
    nn::save_model(args->output, *model);
    std::cout << "imported " << args->input << " -> " << args->output << "\n"
              << "core: " << model->spec()["core"].dump() << "\n"
              << "readout: " << model->spec()["readout"].dump() << "\n"
              << "input shape: " << model->spec()["input_shape"].dump() << ", " << model->n_parameters()
              << " parameters\n";
  });
}

}  // namespace fovea::cli
