#pragma once
// The chirp and moving-bar stimuli of the Höfling 2024 recordings, read as
// openretina's data_io/artificial_stimuli.py reads them (openretina-datasets §2):
//
//   RGC_Chirp_30Hz_18_16.pickle       a pickled numpy uint8 array (T, H, W, C), C = 3
//   RGC_MovingBar_30Hz_18_16.pickle   (T = 990 for the chirp, 1104 for the moving bar)
//   RGC_Chirp_60Hz_72_64.pickle, RGC_MovingBar_60Hz_72_64.pickle (every 2nd frame kept)
//
// load_stimulus: float32, frames [::downsample_t_factor], the first two colour
// channels (the stimuli are achromatic), then (x − 128)/128 when normalised,
// returned as a movie (2, T, H, W). The moving bar also loses its first 90
// frames (3 s) and last 30 (1 s): 984 = 8 directions × 123 frames.
// openretina (v1.1.1) no longer ships these files; its trigger alignment
// ("TODO: needs fixing") is not reproduced.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

#include "fovea/data/retina_dataset.h"

namespace fovea::data {

enum class ArtificialStimulus { chirp, moving_bar };

struct ArtificialStimulusOptions {
  bool normalize = true;
  // Keep every n-th frame: 2 for the 60 Hz 72×64 files. 0: 2 when the file's
  // frames are 72×64, else 1.
  int64_t downsample_t_factor = 0;
};

// One repetition of the stimulus in `path`, (2, T, H, W) float32. Errors name
// the file (not a pickled array, wrong rank, fewer than 2 channels, too short).
at::Tensor load_artificial_stimulus(const std::string& path, ArtificialStimulus kind,
                                    const ArtificialStimulusOptions& options = {});

// Frames of one repetition at the files' frame rates: 990 (chirp, 33 s at
// 30 Hz) and 123 (one moving-bar direction; 8 directions make a repetition).
constexpr int64_t kChirpFrames = 990, kMovingBarDirectionFrames = 123, kMovingBarDirections = 8;

// openretina's get_chirp_dataloaders / get_mb_dataloaders stimulus for one
// session: the repetition tiled `repetitions` times along time (the chirp:
// len(chirp triggers)//2; the moving bar: len(mb triggers)//8), mirrored along
// W for a left-eye recording.
at::Tensor session_artificial_movie(const at::Tensor& stimulus, int64_t repetitions, bool left_eye);

// The Höfling 2024 recordings' responses to the chirp and the moving bar, as
// test stimuli of a Höfling dataset (data.chirp_path, data.moving_bar_path of
// the hoefling_2024 layout), so that `fovea eval` scores the models on them.
// For each session (field group of `responses_path`) the kept ROIs are found
// by their roi_ids (the dataset's info["roi_ids"]); their traces
// `<p>_inferred_spikes` (or `<p>_spikes`; `<p>_raw_traces`,
// `<p>_preprocessed_traces`, raw − `<p>_smoothed_traces` for the other trace
// types) with p = chirp | mb are resampled at the stimulus clock as openretina's
// make_final_responses does — the chirp from every second trigger
// (`chirp_trigger_times`, 990 samples over 32.98999999 s each), the moving bar
// from every trigger (`mb_trigger_times`, 123 samples over 4.054001 s each),
// numpy.interp against `<p>_traces_times` (or `<p>_traces_t0` + j·`<p>_traces_dt`),
// each ROI divided by its std (ddof 0) and multiplied by scale_traces — and
// cut into repetitions: test_by_trial "chirp" (len(triggers)//2, N, 990) and
// "moving_bar" (len(triggers)//8, N, 984), their means as the test responses.
// The movie is one repetition, mirrored for a left eye (info["eye_is_left"]).
// openretina trains on these (get_chirp_dataloaders, get_mb_dataloaders, both
// broken at v1.1.1); fovea evaluates on them.
struct HoeflingArtificialOptions {
  std::string responses_path;
  std::string chirp_path, moving_bar_path;  // empty: not added
  std::string trace_type = "spikes";        // spikes | raw | preprocessed | detrended
  double scale_traces = 1.0;
};
void add_hoefling_artificial_stimuli(RetinaDataset& dataset, const HoeflingArtificialOptions& options);

}  // namespace fovea::data
