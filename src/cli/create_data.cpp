// fovea create-data DIR: openretina's synthetic dataset in the generic HDF5 layout (api::create_data).
#include <iostream>

#include "cli/commands.h"
#include "fovea/api/create_data.h"

namespace fovea::cli {

void add_create_data_command(CLI::App& app) {
  auto o = std::make_shared<api::CreateDataOptions>();
  auto* cmd = app.add_subcommand("create-data", "write a synthetic dataset in openretina's HDF5 layout");
  cmd->add_option("dir", o->dir, "output directory")->required();
  cmd->add_option("--num-colors", o->num_colors, "colour channels")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--num-stimuli", o->num_stimuli, "stimuli")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--num-sessions", o->num_sessions, "sessions")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--clip-length", o->clip_length, "frames per clip")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--seed", o->seed, "random seed")->capture_default_str();
  cmd->callback([o] {
    const auto r = api::create_data(*o);
    std::cout << "wrote " << r.num_stimuli << " stimuli and " << r.num_sessions << " sessions to " << r.dir << "\n";
  });
}

}  // namespace fovea::cli
