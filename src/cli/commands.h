#pragma once
// Each subcommand lives in its own file and registers itself on the app.
// Commands only parse arguments, call the library's API (fovea/api/) and
// print its results.
#include <CLI/CLI.hpp>

#include <string>

#include "fovea/api/runtime.h"

namespace fovea::cli {

// Options every command that runs a model takes (--device, --threads, --seed, --kernels).
using RuntimeOptions = api::RuntimeOptions;
void add_runtime_options(CLI::App* command, RuntimeOptions& options, bool with_seed = true);
// A --device that is neither cpu nor cuda is a usage error (exit 2); then
// api::apply_runtime sets threads, kernels and the seed.
void apply_runtime_options(const RuntimeOptions& options);

void add_simulate_command(CLI::App& app);
void add_create_data_command(CLI::App& app);
void add_train_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_predict_command(CLI::App& app);
void add_info_command(CLI::App& app);
void add_import_command(CLI::App& app);
void add_export_command(CLI::App& app);
void add_minimodels_command(CLI::App& app);
void add_mei_command(CLI::App& app);
void add_visualize_command(CLI::App& app);
void add_top_images_command(CLI::App& app);
void add_plot_eval_command(CLI::App& app);
void add_sweep_command(CLI::App& app);

}  // namespace fovea::cli
