#pragma once
// The Maheswaranathan et al. 2023 salamander ganglion-cell recordings
// (Baccus lab, https://doi.org/10.25740/rk663dm5577), read as openretina reads
// them (data_io/maheswaranathan_2023: stimuli.py, responses.py):
//
//   <dir>/neural_code_data/ganglion_cell_data/<session>/<...><stim_type>.h5
//   (the published neural_code_data.zip unpacked in <dir>; <dir> may also be
//   the neural_code_data or the ganglion_cell_data folder)
//     /train/stimulus                    (T, 50, 50)
//     /test/stimulus                     (T_test, 50, 50)
//     /train/response/<response_type>    (neurons, T)        firing_rate_5ms | _10ms (default, as
//                                                            openretina's config) | _20ms | binned
//     /test/response/<response_type>     (neurons, T_test)   the trial average
//     /test/repeats/<response_type>      (repeats, neurons, T_test)     optional, or else
//     /test/repeats/cell<k>              (repeats, T_test) per cell      (cells in the order of k)
// Frames are at 100 Hz. The session name (the folder) is the data_key; every
// session has its own stimulus.
//
// Returned as a RetinaDataset: movies (1, T, 50, 50) float32 with the test
// movie under the name "test"; responses (neurons, T) divided by
// fr_normalization; test_by_trial["test"] (repeats, neurons, T_test) when the
// file has /test/repeats. Stimuli are z-scored with the training movie's mean
// and std (ddof 1, in float32, as openretina's normalize_train_test_movies),
// per session.
//
// Differences from openretina, on purpose:
//  - the per-trial responses stored as /test/repeats/<response_type> are also
//    divided by fr_normalization (openretina divides only the per-cell form);
//  - a file without /test/repeats, or whose /test/repeats holds only other
//    response types, has no per-trial responses (openretina fails);
//  - a session folder with two matching files is an error (openretina keeps
//    whichever the directory listing gives last);
//  - responses must have as many frames as their stimulus, except that one
//    extra trailing bin is dropped: the published test set has 5997 response
//    bins for 5996 stimulus frames (openretina's docs show both shapes).
// Any other mismatch, a missing dataset or a wrong rank is a fovea::Error that
// names the file.
#include <string>

#include "fovea/data/retina_dataset.h"

namespace fovea::data {

struct MaheswaranathanOptions {
  std::string dir;
  std::string response_type = "firing_rate_10ms";  // data_io/maheswaranathan_2023.yaml
  std::string stim_type = "naturalscene";  // or "whitenoise": files end in "<stim_type>.h5"
  double fr_normalization = 1.0;
  bool normalize_stimuli = true;
};

RetinaDataset load_maheswaranathan_2023(const MaheswaranathanOptions& options);

}  // namespace fovea::data
