#pragma once
// The Sridhar et al. 2025 marmoset ganglion-cell recordings (Gollisch lab,
// MEA, 85 Hz; doi 10.12751/g-node.3dfiti), read as openretina reads them
// (data_io/sridhar_2025; configs data_io/sridhar_{nm,wn}_2025.yaml and
// dataloader/sridhar_{nm,wn}_2025.yaml). One session per retina id ("01".."04").
//
// Natural movie ("NM", stimulus natural_movie), in <dir>:
//   responses/cell_responses_<id>_fixation_movie.pkl   a dict:
//       train_responses (N, frames_per_trial, n_trials), test_responses
//       (N, T_test, n_repeats) or (N, T_test); optional seeds [int] and
//       trial_separation {seed: [trial, ...]}
//   fixations/<file>.txt   one line per frame: "<image> _ _ <center_x> <center_y> ... <flag>";
//                          the first 5100 lines are the test movie, then the
//                          training trials one after another
//   stimuli_padded_4/*_img_*.npy   the images (350, 300), sorted by name; the
//                          fixation's image field is a 0-based index into them
// A frame is the image ÷ 255 (kept as float16, as openretina keeps it), cut
// around the fixation centre (+50 padding) to 200×150, mirrored when the flag
// is 0, transposed to 150×200 and cropped by (35, 35, 55, 55) to 80×90.
//
// White noise ("WN", stimulus whitenoise), in <dir>:
//   responses/cell_responses_<id>_wn.pkl                   as above
//   non_repeating_stimuli_<set>/trial_<NNN>/all_images.npy (h, w, n) training trial NNN
//   repeating_stimuli_<set>/all_images.npy                 (h, w, n) the test movie
// (set 1 for retinas 01 and 02, set 2 for 04), cropped [35:h−35, 55:w−55],
// values as stored (openretina does not normalise them). Responses are taken
// `extra_frame` frames after the stimulus frame they belong to.
//
// Responses: cell_index keeps one cell, else excluded_cells[id] are dropped;
// with `seeds` in the pickle, the trials trial_separation[stimulus_seed] are
// kept (train and test), else for retina 01 the first 10 test repeats.
//
// STA locations (get_locations_from_stas), with get_locations: per kept cell c
// the spike-triggered average <sta_dir>/cell_data_<id>_WN_stas_cell_<c>.npy
// (n_frames, h, w) is mirrored on axis 1 for NM (openretina's frame_movie_loader
// hard-codes flip_sta=True; WN: not), cropped [35:h−35, 55:w−55] and the cell's
// location is the argmax of the per-pixel variance over time (numpy's var,
// ddof 0; the first maximum in row-major order) as (row, col). They are
// session info "sta_locations" (N, 2) int64; train_retina initialises a
// single-cell LNP's rf_location from them (openretina's SingleCellSeparatedLNP
// rf_location, "set dynamically ... based on loaded sessions").
//
// Trial split (get_trial_wise_validation_split): sridhar_trial_split, then
// final_training adds the validation trials to training (validation still
// scores them); hard_coded {train, validation} replaces the drawn split.
//
// Returned as a RetinaDataset, per retina id: movies.train (1, frames·n_trials,
// 80, 90) float32, the training trials one after another (sessions with the
// same frames share one tensor); movies.test["test"]; responses.train
// (N, frames·n_trials) in the same order; responses.test["test"] the mean over
// repeats; test_by_trial["test"] (repeats, N, T_test); info cell_indices,
// frames_per_trial, num_trials, stimulus_seed, sta_locations (with
// get_locations); val_clip_indices: the validation trials, so that a clip
// length of frames_per_trial cuts whole trials. The training movie holds the
// trials of the split only: with hard_coded, trials in neither list are left
// out; with final_training, the validation trials follow a second time at the
// end as the validation clips, so that the trials before them all train.
//
// Differences from openretina, on purpose:
//  - with a seed selection, a kept trial is rendered from its own fixation
//    lines (its index in the full trial list);
//  - a fixation whose 200×150 cut leaves the padded image, an image index
//    beyond the image list, a fixation file shorter than the trials need, and
//    WN trials of unequal length are errors naming the file and line (Python
//    slicing would silently cut or wrap);
//  - hard_coded is checked (openretina takes it as given and filter_trials
//    silently drops trials out of range): a trial out of range, listed twice,
//    in both lists, an empty list, or trials 0 and 9 (10 and 19: repeated
//    content) on different sides are errors naming data.hard_coded;
//  - final_training applies to WN as well (openretina's white_noise_loader
//    does not pass it on to the split, so it is silently ignored there);
//    final_training together with hard_coded is an error (openretina ignores
//    final_training then).
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "fovea/data/retina_dataset.h"
#include "fovea/io/download.h"

namespace fovea::data {

struct SridharOptions {
  std::string dir;
  std::string stimulus = "natural_movie";  // natural_movie | whitenoise
  std::vector<std::string> sessions;       // retina ids; empty: every id with a response pickle
  int64_t cell_index = -1;                 // >= 0: keep only this cell (dataloader cell_index)
  std::map<std::string, std::vector<int64_t>> excluded_cells;  // retina id -> original cell indices
  int64_t stimulus_seed = 0;
  // get_trial_wise_validation_split
  uint32_t split_seed = 1000;
  double train_frac = 0.8;
  bool final_training = false;  // the validation trials train as well
  struct HardCoded {
    std::vector<int64_t> train, validation;  // trial indices (after the stimulus-seed selection)
  };
  std::optional<HardCoded> hard_coded;  // replaces the drawn split
  // get_locations_from_stas
  bool get_locations = true;
  std::string sta_dir = "stas";
  // NM (dataloader/sridhar_nm_2025.yaml)
  std::map<std::string, std::string> fixation_files = {
      {"01", "fixations/complete_fixations_seed_2022and2023_s4_fixed.txt"},
      {"02", "fixations/complete_fixations_seed2022_s4.txt"},
      {"03", "fixations/complete_fixations_seed_2022and2023_s4_fixed.txt"},
      {"04", "fixations/complete_fixations_seed_2022and2023_s4_fixed.txt"}};
  std::string img_dir = "stimuli_padded_4";
  std::string frame_file = "_img_";
  bool flip_imgs = false;
  // WN
  std::map<std::string, int64_t> wn_image_set = {{"01", 1}, {"02", 1}, {"04", 2}};
  int64_t extra_frame = 0;
};

constexpr int64_t kSridharTestFrames = 5100;  // TEST_DATA_FRAMES: the NM fixation file's first lines

// get_trial_wise_validation_split: numpy's legacy permutation of the trials
// (RandomState(seed)), the first ⌊train_frac·n⌋ train, the rest validate;
// drawn again (same stream) while trials 0 and 9, or 10 and 19, fall on
// different sides. Returns (train, validation) in drawn order.
std::pair<std::vector<int64_t>, std::vector<int64_t>> sridhar_trial_split(int64_t n_trials, uint32_t seed,
                                                                          double train_frac);

// One retina's responses after cell and seed selection (load_responses).
struct SridharResponses {
  at::Tensor train;          // (N, frames_per_trial, n_trials) float32
  at::Tensor test;           // (N, T_test) float32: the mean over repeats
  at::Tensor test_by_trial;  // (repeats, N, T_test), undefined for an averaged pickle
  std::vector<int64_t> cell_indices;  // kept cells, original indices
  std::vector<int64_t> trials;        // kept training trials, original indices
};
SridharResponses read_sridhar_responses(const std::string& pickle_path, const std::string& retina_id,
                                        const SridharOptions& options);

// The trial split of one retina with `n_trials` training trials: hard_coded
// (checked), or sridhar_trial_split plus, with final_training, the validation
// trials appended to training. Errors name data.hard_coded / data.final_training.
std::pair<std::vector<int64_t>, std::vector<int64_t>> sridhar_split(int64_t n_trials, const SridharOptions& options);

// get_location_from_sta: the (row, col) of the largest temporal variance of
// the STA in `file` (n_frames, h, w), mirrored on axis 1 when `flip_sta`,
// cropped by (35, 35, 55, 55).
std::array<int64_t, 2> sridhar_sta_location(const std::string& file, bool flip_sta);

RetinaDataset load_sridhar_2025(const SridharOptions& options);

// data.dir: sridhar_2025 — openretina's Hugging Face folder
// gollisch_lab/sridhar_2025/marmoset/<stimulus> (listed with the Hub's tree
// API, as openretina's list_repo_files), downloaded into
// <cache>/published/sridhar_2025/<stimulus>, zips unpacked in place; the
// per-cell STAs (stas/) only `with_stas` (data.get_locations), in a second
// step of their own. `base_url` is the repository's
// ".../datasets/<owner>/<repo>/resolve/<revision>" root. Each finished step is
// recorded, so later runs need no network. Returns the folder.
std::string fetch_sridhar_2025(const std::string& stimulus, const std::string& base_url,
                               const io::DownloadOptions& options = {}, bool with_stas = true);

}  // namespace fovea::data
