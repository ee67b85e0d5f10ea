#pragma once
// Each subcommand lives in its own file and registers itself on the app.
// Commands only parse arguments and call the library.
#include <CLI/CLI.hpp>

#include <string>

namespace fovea::cli {

// Options every command that runs a model takes.
struct RuntimeOptions {
  std::string device = "cpu";
  int threads = 0;  // 0: all cores
  uint64_t seed = 0;
  std::string kernels = "fast";  // reference: LibTorch's ops as the reference systems run them
};
void add_runtime_options(CLI::App* command, RuntimeOptions& options, bool with_seed = true);
// Sets LibTorch's thread count, the kernel set and the seed of every
// generator; checks the device.
void apply_runtime_options(const RuntimeOptions& options);

void add_simulate_command(CLI::App& app);
void add_create_data_command(CLI::App& app);
void add_train_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_predict_command(CLI::App& app);
void add_info_command(CLI::App& app);
void add_import_command(CLI::App& app);
void add_minimodels_command(CLI::App& app);
void add_mei_command(CLI::App& app);
void add_visualize_command(CLI::App& app);
void add_top_images_command(CLI::App& app);
void add_plot_eval_command(CLI::App& app);

}  // namespace fovea::cli
