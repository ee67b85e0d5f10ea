// The `fovea` command line: parse, call the library, print.
// Errors in user input print one line and exit 1; usage errors exit 2.
#include <torch/torch.h>

#include <iostream>
#include <new>

#include "cli/commands.h"
#include "fovea/error.h"
#include "fovea/nn/plugins.h"

namespace fovea::cli {

void add_runtime_options(CLI::App* command, RuntimeOptions& options, bool with_seed) {
  command->add_option("--device", options.device, "cpu or cuda")->capture_default_str();
  command->add_option("--threads", options.threads, "CPU threads (0: all cores)")->capture_default_str();
  command->add_option("--kernels", options.kernels,
                      "reference (LibTorch's ops, as openretina/minimodel) or fast (fovea's CPU kernels)")
      ->capture_default_str();
  if (with_seed) command->add_option("--seed", options.seed, "seed of every random generator (train: default the config's seed)")->capture_default_str();
}

void apply_runtime_options(const RuntimeOptions& options) {
  if (options.device != "cpu" && options.device.rfind("cuda", 0) != 0)
    throw CLI::ValidationError("--device", "must be cpu or cuda, got '" + options.device + "'");
  api::apply_runtime(options);
}

}  // namespace fovea::cli

int main(int argc, char** argv) {
  CLI::App app{"fovea: predictive models of visual neurons (retina and V1)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "fovea 0.1.0");
  fovea::cli::add_create_data_command(app);
  fovea::cli::add_simulate_command(app);
  fovea::cli::add_train_command(app);
  fovea::cli::add_eval_command(app);
  fovea::cli::add_predict_command(app);
  fovea::cli::add_info_command(app);
  fovea::cli::add_import_command(app);
  fovea::cli::add_export_command(app);
  fovea::cli::add_minimodels_command(app);
  fovea::cli::add_mei_command(app);
  fovea::cli::add_visualize_command(app);
  fovea::cli::add_top_images_command(app);
  fovea::cli::add_plot_eval_command(app);
  fovea::cli::add_sweep_command(app);
  // Plugins add custom cores and readouts (see fovea/nn/plugins.h); loaded
  // after parsing (so --help needs none) and before the subcommand runs.
  std::vector<std::string> plugins;
  app.add_option("--plugin", plugins,
                 "shared library with custom cores/readouts to load before the command (repeatable, before the "
                 "command; also FOVEA_PLUGINS=a.so:b.so)")
      ->type_name("PATH")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.parse_complete_callback([&plugins] {
    fovea::nn::load_plugins_from_environment();
    for (const auto& path : plugins) fovea::nn::load_plugin(path);
  });
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  } catch (const fovea::Error& e) {
    std::cerr << "error: " << e.what() << std::endl;
    return 1;
  } catch (const c10::Error& e) {
    // A LibTorch check on user data (a shape that does not fit the model, ...).
    std::cerr << "error: " << e.what_without_backtrace() << std::endl;
    return 1;
  } catch (const std::bad_alloc&) {
    std::cerr << "error: out of memory: the command needs more memory than this machine has (a smaller model, "
                 "batch size or dataset may fit)"
              << std::endl;
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
