#pragma once
// The Höfling et al. 2024 mouse ganglion-cell recordings (Euler lab,
// 2-photon Ca²⁺ imaging, green+UV natural movies at 30 Hz), read and
// preprocessed as openretina reads them (data_io/hoefling_2024: stimuli.py,
// responses.py, dataloaders.natmov_dataloaders_v2; configs data_io/,
// quality_checks/ and dataloader/hoefling_2024.yaml). Two files:
//
// The movie pickle (a dict):
//   train              (2, 16200, H, W)  108 clips of 150 frames in canonical clip order
//   test               (2, 750, H, W)    the 5 test clips
//   random_sequences   (108, 20) uint8   column s: the clip ids in presentation order of sequence s
//   movie_stats, eye   ignored (the movies are already normalised)
//
// The responses HDF5: one group per recording field (the group name is the
// session key, e.g. session_2_ventral2_20201016), holding (N = ROIs):
//   natural_inferred_spikes or natural_spikes   (N, T_scan)
//   natural_traces_times (N, T_scan), or natural_traces_t0 and natural_traces_dt (N,)
//   natural_trigger_times (N, 123)   one trigger per 5-s clip; the first kept ROI's row is used
//   group_assignment (N,) 1..46, group_confidences (N, 46), d_qi (N,), chirp_qi (N,), roi_ids (N,)
//   attributes eye ('left' | 'right'), scan_sequence_idx (0..19)
//
// Preprocessing (filter_responses, make_final_responses):
//  1. quality filters, per ROI: group_assignment in cell_types_list; d_qi ≥ 0.6
//     OR chirp_qi ≥ 0.35 (a NaN fails); max group_confidences ≥ 0.25 (when > 0);
//     optionally only fields with more than count_threshold ROIs. A field left
//     without ROIs is dropped.
//  2. each ROI is resampled at the 30 Hz movie clock (150 samples from each
//     trigger t_k over t_k … t_k + 4.9666667 s, endpoints included: 18450) by
//     linear interpolation (numpy.interp), divided by its std (ddof 0) over
//     those samples and multiplied by scale_traces;
//  3. the fixed presentation layout of 123 clips: clips 0–4, 59–63 and 118–122
//     are the three test repeats, 5–58 and 64–117 the 108 training clips in
//     presentation order.
//
// Returned as a RetinaDataset, per session:
//   movies.train       (2, 16200, H, W): the training clips in this session's
//                      presentation order (random_sequences[:, scan_sequence_idx]),
//                      flipped along W for a left eye; sessions with the same
//                      sequence and eye share one tensor
//   movies.test        "test" (2, 750, H, W), flipped along W for a left eye
//   responses.train    (N, 16200) float32, presentation order, frame by frame with the movie
//   responses.test     "test" (N, 750): the mean of the three repeats
//   responses.test_by_trial  "test" (3, N, 750)
//   responses.info     group_assignment, roi_ids, scan_sequence_idx, eye_is_left
//   val_clip_indices   the presentation slots of the validation clips
//                      (canonical ids, openretina's validation_clip_indices),
//                      in the listed order: with a clip length of 150 the
//                      generic clip split then cuts the canonical clips in the
//                      listed order out of movie and responses alike, and
//                      leaves the other 93 clips in presentation order, as
//                      natmov_dataloaders_v2 does.
// session_2_ventral2_20200626 is read as a right eye (mislabelled left in the
// files; openretina forces it too).
//
// Where fovea differs from openretina, on purpose:
//  - responses with NaN after resampling (openretina keeps such a session with
//    no training data) are an error naming the session and the ROI count;
//  - the sample times are computed in float64 (numpy 2 would compute the
//    linspace of a float32 trigger in float32).
#include <cstdint>
#include <string>
#include <vector>

#include "fovea/data/retina_dataset.h"

namespace fovea::data {

// quality_checks/hoefling_2024.yaml
struct HoeflingQualityChecks {
  bool filter_cell_types = true;
  std::vector<int64_t> cell_types_list = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                                          17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
  double chirp_qi = 0.35;
  double d_qi = 0.6;
  std::string qi_logic = "or";           // or | and
  bool filter_counts = false;
  int64_t count_threshold = 10;          // fields with more than this many ROIs are kept
  double classifier_confidence = 0.25;   // applied when > 0
};

struct HoeflingOptions {
  std::string movies_path;     // the movie pickle
  std::string responses_path;  // the responses HDF5
  HoeflingQualityChecks quality;
  // openretina's trace types: spikes (default), raw, preprocessed, detrended (raw − smoothed).
  std::string trace_type = "spikes";
  double scale_traces = 1.0;
  // dataloader/hoefling_2024.yaml validation_clip_indices (canonical clip ids)
  std::vector<int64_t> validation_clip_indices = {0, 4, 10, 11, 18, 30, 45, 62, 67, 77, 79, 80, 81, 83, 95};
};

constexpr int64_t kHoeflingClipLength = 150;  // frames per clip at 30 Hz
constexpr int64_t kHoeflingNumClips = 108;     // training clips
constexpr int64_t kHoeflingNumTriggers = 123;  // clips presented: 108 training + 3 × 5 test

RetinaDataset load_hoefling_2024(const HoeflingOptions& options);

}  // namespace fovea::data
