#pragma once
// openretina's generic HDF5 layout (data_io/h5_dataset_reader.py):
//   <dir>/stimuli/<name>.npy     (C, T, H, W) movies shared by all sessions
//   <dir>/<session>.h5|.hdf5     responses_<name> (neurons, T_name);
//                                optional stimulus_<name> (C, T, H, W) for this session only;
//                                optional group session_info/* (per-session metadata)
// Stimuli named in `test_names` are test stimuli; the others are concatenated
// along time in sorted name order, stimuli and responses alike. The session
// name (file stem) is the data_key.
//
// Repeated test trials (ResponsesTrainTestSplit.test_by_trial_dict). openretina's
// own generic reader has none; fovea reads them, for a test stimulus <test>,
// from any one of (more than one in a file is an error):
//   test_by_trial/<test>        (trials, neurons, T) in a group: openretina's reader
//                               skips it, so such files stay readable there
//                               (`fovea simulate retina` writes this one);
//   responses_<test>_by_trial   (trials, neurons, T);
//   responses_<test> itself     3-D (trials, neurons, T).
// `responses_<test>` (2-D) is the trial average the models are scored on; when
// it is absent or 3-D, the mean over trials (ignoring NaN trials) is used.
// Per-trial responses must have the neurons and frames of the test stimulus;
// responses_<name>_by_trial for a <name> that is not a test stimulus is an error.
#include <ATen/core/Tensor.h>

#include <map>
#include <string>
#include <vector>

namespace fovea::data {

struct MovieSplit {
  at::Tensor train;                          // (C, T, H, W) float32, normalised
  std::map<std::string, at::Tensor> test;    // name -> (C, T, H, W)
};

struct SessionResponses {
  at::Tensor train;                          // (neurons, T) float32
  std::map<std::string, at::Tensor> test;    // name -> (neurons, T): the trial average
  std::map<std::string, at::Tensor> info;    // session_info/<key>
  // name -> (trials, neurons, T) float32, only for the test stimuli that have
  // repeated trials in the file (openretina's test_by_trial_dict).
  std::map<std::string, at::Tensor> test_by_trial;
};

struct RetinaDataset {
  std::map<std::string, MovieSplit> movies;            // per session (shared stimuli are repeated by reference)
  std::map<std::string, SessionResponses> responses;   // per session, sorted by name
  // Per session, for layouts whose validation clips are fixed by the
  // published split (Höfling 2024): the clip indices of the training movie
  // that validate, in order, used instead of the split's own choice.
  std::map<std::string, std::vector<int64_t>> val_clip_indices;
  std::vector<std::string> sessions() const;
  std::map<std::string, int64_t> n_neurons_dict() const;
};

struct RetinaLoadOptions {
  std::string dir;
  std::vector<std::string> test_names;     // e.g. {"test"}
  std::vector<int64_t> stimulus_size;      // (C, H, W) the stimuli must have; empty: not checked
  double norm_mean = 0.0, norm_std = 1.0;  // stimuli become (x - mean) / std
};

RetinaDataset load_hdf5_layout(const RetinaLoadOptions& options);

}  // namespace fovea::data
