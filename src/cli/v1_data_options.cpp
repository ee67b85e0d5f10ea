#include "cli/v1_data_options.h"

namespace fovea::cli {

void add_v1_data_options(CLI::App* command, api::V1DataFiles& files) {
  command->add_option("--data", files.dir, "dataset directory (images.npy or images.mat, responses.npz[, ground_truth.npz])");
  command->add_option("--images", files.images, "images file (.mat with key img, or .npy)");
  command->add_option("--responses", files.responses, "responses file (.npz with sp, istim_sp, ss_all, istim_ss, ...)");
  command->add_option("--truth", files.truth, "noise-free test responses (.npz with test_rates), adds corr_to_truth");
  command->add_option("--mouse", files.mouse,
                      "minimodel's mouse (L1_A5, L1_A1, FX9, FX10, FX8, FX20): its published files in the --data "
                      "folder by their names (eval: default the mouse the model records)");
  command->add_flag("--textures", files.textures, "with --mouse: the texture responses (text16_<mouse>_<date>.npz)");
}

}  // namespace fovea::cli
