// fovea create-data DIR: openretina's synthetic dataset in the generic HDF5 layout.
#include <iostream>

#include "cli/commands.h"
#include "fovea/data/create_data.h"

namespace fovea::cli {

void add_create_data_command(CLI::App& app) {
  auto dir = std::make_shared<std::string>();
  auto o = std::make_shared<data::CreateDataOptions>();
  auto* cmd = app.add_subcommand("create-data", "write a synthetic dataset in openretina's HDF5 layout");
  cmd->add_option("dir", *dir, "output directory")->required();
  cmd->add_option("--num-colors", o->num_colors, "colour channels")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--num-stimuli", o->num_stimuli, "stimuli")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--num-sessions", o->num_sessions, "sessions")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--clip-length", o->clip_length, "frames per clip")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--seed", o->seed, "random seed")->capture_default_str();
  cmd->callback([dir, o] {
    data::create_data(*dir, *o);
    std::cout << "wrote " << o->num_stimuli << " stimuli and " << o->num_sessions << " sessions to " << *dir << "\n";
  });
}

}  // namespace fovea::cli
