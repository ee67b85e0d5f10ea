#include "cli/v1_data_options.h"

namespace fovea::cli {

void add_v1_data_options(CLI::App* command, api::V1DataFiles& files) {
  command->add_option("--data", files.dir, "dataset directory (images.npy or images.mat, responses.npz[, ground_truth.npz])");
  command->add_option("--images", files.images, "images file (.mat with key img, or .npy)");
  command->add_option("--responses", files.responses, "responses file (.npz with sp, istim_sp, ss_all, istim_ss, ...)");
  command->add_option("--truth", files.truth, "noise-free test responses (.npz with test_rates), adds corr_to_truth");
}

}  // namespace fovea::cli
