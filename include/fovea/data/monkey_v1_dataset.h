#pragma once
// minimodel's monkey V1 data: Cadena et al. 2019 as minimodel's converter
// (data/monkey_data.ipynb) saved it in monkeyv1_cadena_2019.npz, read as
// notebooks/fullmodel_monkey.ipynb reads it:
//   images (N, 1, 80, 80)            the stimuli of all training trials (already z-scored)
//   responses (N, neurons)           one response per trial and neuron
//   real_responses (N, neurons)      0/1: whether that response was recorded
//   test_images (T, 1, 80, 80), test_responses and test_real_responses (repeats, T, neurons)
//   train_idx, val_idx               the trial split (18,560 / 4,640 in the published file)
//   repetitions (neurons,)           how many test repeats count per neuron
//   subject_id (neurons,), image_ids read by the notebook, not used.
// Preprocessing as the notebook: every response (training and test) divided
// by the neuron's nanstd over the real responses of all N trials (ddof 0);
// missing test responses become NaN. Into fovea's V1Dataset: images = the
// N training images followed by the T test images, trials = the N rows
// (train_image_index = 0..N-1), test_responses (T, repeats, neurons),
// real_responses and repetitions set; FEV = monkey_feve's over the test repeats.
// Every problem with the file is one fovea::Error naming the file and the key.
#include <string>

#include "fovea/data/v1_dataset.h"

namespace fovea::data {

inline constexpr const char* kMonkeyCadena2019Layout = "monkey_cadena_2019";
inline constexpr const char* kMonkeyCadena2019File = "monkeyv1_cadena_2019.npz";

// The .npz a load with this layout reads: options.responses_path, else
// dir/monkeyv1_cadena_2019.npz; fovea::Error when neither is given.
std::string monkey_v1_file(const V1LoadOptions& options);

// fev_threshold: good_neurons = fev > fev_threshold.
V1Dataset load_monkey_v1_dataset(const std::string& npz_path, double fev_threshold = 0.15);

}  // namespace fovea::data
