#pragma once
// The Goldin et al. 2022 ganglion-cell recordings (Marre lab; mouse and
// axolotl retinas shown flashed natural images, zenodo 6868362), read as
// openretina reads them (data_io/goldin_2022; configs data_io/ and
// dataloader/goldin_2022.yaml):
//
//   <dir>/<...><specie><...>[.h5]   every file whose name contains the species
//                                   ("mouse" or "axolotl") is one session; the
//                                   session key is the name without ".h5"
//     /train/stimulus                (N_img, H, W)        one flashed image per "frame" (108×108)
//     /test/stimulus                 (N_img_test, H, W)
//     /train/response/<response_type>  (neurons, N_img)     spike counts over the 300-ms flash ("binned")
//     /test/response/<response_type>   (neurons, N_img_test) the trial average
//     /test/repeats/cell<k>          (repeats, N_img_test) optional, one per cell
//
// Returned as a RetinaDataset, per session: movies (1, N_img, H, W) float32,
// z-scored with the training images' mean and std (ddof 1, float32, as
// openretina's normalize_train_test_movies), the test images under "test";
// responses divided by fr_normalization (0.3: counts over 300 ms become Hz);
// test_by_trial["test"] (repeats, neurons, N_img_test) from the cell<k>
// datasets in the order of k, divided alike. As openretina asserts, the
// stored trial average must equal the mean over the repeats (numpy.allclose
// tolerances).
//
// Differences from openretina, on purpose: responses must have exactly one
// value per image (openretina does not check; a shorter array misaligns every
// later image), and a test/repeats cell count different from the neuron count
// is an error naming the file.
#include <string>

#include "fovea/data/retina_dataset.h"
#include "fovea/io/download.h"

namespace fovea::data {

struct GoldinOptions {
  std::string dir;
  std::string specie = "mouse";         // "mouse" or "axolotl": files whose name contains it
  std::string response_type = "binned";
  double fr_normalization = 0.3;        // "spikes are aggregated over 300ms"
  bool normalize_stimuli = true;
};

RetinaDataset load_goldin_2022(const GoldinOptions& options);

// data.dir: goldin_2022 — openretina's Hugging Face folder marre_lab/goldin_2022/
// (listed with the Hub's tree API, as openretina's list_repo_files), its files
// whose name contains `specie` downloaded into <cache>/published/goldin_2022
// (a zip is unpacked there). `base_url` is the repository's
// ".../datasets/<owner>/<repo>/resolve/<revision>" root. A finished download
// is recorded in the folder, so later runs need no network. Returns the folder.
std::string fetch_goldin_2022(const std::string& specie, const std::string& base_url,
                              const io::DownloadOptions& options = {});

}  // namespace fovea::data
