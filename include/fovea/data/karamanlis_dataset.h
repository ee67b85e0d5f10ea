#pragma once
// The Karamanlis et al. 2024 mouse and marmoset ganglion-cell recordings
// (Gollisch lab, https://doi.org/10.12751/g-node.ejk8kx), read as openretina
// reads them (data_io/karamanlis_2024: stimuli.py, responses.py):
//
//   <dir>/<session>/<...><stim_type>_data.mat     MATLAB v7.3 (HDF5), h5py axis order:
//     runningImages     (n_img, x, y)              training images
//     frozenImages      (n_img, x, y)              test images
//     runningfixations  (n_blocks, n_frames, 3)    (image number, τx, τy), image numbers 1-based
//     frozenfixations   (n_frames, 3)
//     runningbin        (n_blocks, n_frames, N)    training responses
//     frozenbin         (n_trials, n_frames, N)    test responses, one per repeat
//   <dir>/<session>/<...><stim_type>_data_extracted_stimuli_<H>_<W>.npz
//     optional cache (train_data (1, T, H, W), test_data (1, T_test, H, W)),
//     used instead of rendering when present, as openretina does
//
// Sessions are the entries of <dir> whose name contains `species` ("mouse" or
// "marmoset"): folders, or `.zip` archives that are unpacked next to
// themselves. The session name (folder name, without ".zip") is the data_key.
//
// Movies: every frame is the fixated image drawn on the 600×800 screen
// (returnFixMovie.m), then resized to `downsampled_size` as torchvision's
// Resize (bilinear, antialias) does; training blocks are concatenated in file
// order. The test movie is named "test". Both are z-scored with the training
// movie's mean and std (ddof 1), per session (normalize_train_test_movies).
// Responses: runningbin -> (N, n_blocks·n_frames); frozenbin -> test_by_trial
// (trials, N, T) and its mean over trials; all divided by fr_normalization.
//
// Differences from openretina, on purpose:
//  - the rendering has no artefact column/row: openretina's port writes one
//    extra leading screen column (row) when the image starts right of (below)
//    the screen edge, showing the image's last column (row) by Python negative
//    indexing; fovea leaves it black, as returnFixMovie.m does. A cached .npz
//    written by openretina is read as it is;
//  - a session shipped as `<name>.zip` has the key <name> on every run
//    (openretina keys it "<name>.zip" on the run that unpacks it, and training
//    fails on the mismatch);
//  - responses whose frame count differs from the movie's are an error naming
//    the file (openretina checks this only when check_stimuli_responses_match);
//  - NaN responses are an error naming the file (openretina logs a warning and
//    leaves the session without training data).
#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "fovea/data/retina_dataset.h"
#include "fovea/io/download.h"

namespace fovea::data {

struct KaramanlisOptions {
  std::string dir;
  std::string species = "mouse";          // or "marmoset": part of the session folder names
  std::string stim_type = "fixationmovie";  // frozencheckerflicker | gratingflicker | imagesequence
  double fr_normalization = 1.0;
  bool normalize_stimuli = true;
  int64_t height = 60, width = 80;         // downsampled_size
  // Write the rendered movies to the .npz cache next to the .mat file (the
  // name openretina uses), so later runs skip the rendering.
  bool write_cache = true;
};

RetinaDataset load_karamanlis_2024(const KaramanlisOptions& options);

// The screen of returnFixMovie.m, in pixels.
constexpr int64_t kKaramanlisScreenHeight = 600, kKaramanlisScreenWidth = 800;

// Frames [first, first + count) of a fixation movie on the 600×800 screen,
// (count, 600, 800) float32. `images` are (n_img, height, width) — already
// rearranged from the file's (n_img, x, y) — and `fixations` (n_frames, 3) hold
// (1-based image number, τx, τy). Screen pixel (py, px) shows image pixel
// (py + τy − 300, px + τx − 400), or 0 outside the image. `origin` names the
// file in errors (an image number out of range).
at::Tensor render_fixation_frames(const at::Tensor& images, const at::Tensor& fixations, int64_t first, int64_t count,
                                  const std::string& origin);

// (T, H, W) frames resized to (T, height, width) as torchvision's
// Resize((height, width)) does on a tensor: bilinear, antialias=True.
at::Tensor resize_bilinear_antialias(const at::Tensor& frames, int64_t height, int64_t width);

// data.dir: karamanlis_2024 — the sessions folder of openretina's Hugging Face
// repository (gollisch_lab/karamanlis_2024/sessions), listed with the Hub's
// tree API (as openretina's list_repo_files) and downloaded into
// <cache>/published/karamanlis_2024/sessions: the entries whose name contains
// `species`, and in session folders only the files of `stim_type` (the .mat
// and any cached .npz); zips are unpacked by the reader. `base_url` is the
// repository's ".../datasets/<owner>/<repo>/resolve/<revision>" root (the
// listing is ".../api/datasets/<owner>/<repo>/tree/<revision>/<path>"). A
// finished download is recorded in the folder, so later runs need no network.
// Returns the local sessions folder.
std::string fetch_karamanlis_sessions(const std::string& species, const std::string& stim_type,
                                      const std::string& base_url, const io::DownloadOptions& options = {});

}  // namespace fovea::data
