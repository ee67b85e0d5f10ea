// Reading the chirp and moving-bar pickles (see fovea/data/artificial_stimuli.h).
#include "fovea/data/artificial_stimuli.h"

#include <ATen/ATen.h>

#include "data/tensor_checks.h"
#include "fovea/error.h"
#include "fovea/io/atomic_file.h"
#include "fovea/io/pickle.h"

namespace fovea::data {

at::Tensor load_artificial_stimulus(const std::string& path, ArtificialStimulus kind,
                                    const ArtificialStimulusOptions& o) {
  check(o.downsample_t_factor >= 0, "downsample_t_factor",
        "must be a positive integer (or 0: from the frame size), got " + std::to_string(o.downsample_t_factor));
  const io::PyRef root = io::parse_pickle(io::read_file(path), path);
  if (!root || root->kind != io::PyValue::Kind::Tensor)
    fail(path, "expected a pickled numpy array (frames, height, width, colours), got " +
                   (root ? root->repr() : std::string("nothing")));
  at::Tensor s = root->tensor;
  check_dims(s, 4, path, "the stimulus", "(frames, height, width, colours)");
  check(s.size(3) >= 2, path,
        "the stimulus has " + std::to_string(s.size(3)) + " colour channel(s) on axis 3, expected at least 2");
  check(s.scalar_type() != at::kBool && !at::isComplexType(s.scalar_type()), path, "the stimulus is not numeric");
  // The 72×64 files are at 60 Hz, twice the models' 30 Hz.
  const int64_t factor = o.downsample_t_factor > 0 ? o.downsample_t_factor : (s.size(1) == 72 && s.size(2) == 64 ? 2 : 1);
  // openretina: x.astype(float32)[::factor, :, :, :2], then (x − 128) / 128.
  s = s.to(at::kFloat).slice(0, 0, s.size(0), factor).narrow(3, 0, 2);
  if (o.normalize) s = (s - 128.0) / 128.0;
  if (kind == ArtificialStimulus::moving_bar) {
    // load_moving_bar drops the first 3 s and the last 1 s: [90:-30].
    check(s.size(0) > 120, path,
          "the moving bar has " + std::to_string(s.size(0)) + " frames, expected more than 120 (90 are cut at the "
          "start and 30 at the end)");
    s = s.narrow(0, 90, s.size(0) - 120);
  }
  check_finite(s, path, "the stimulus");
  return s.permute({3, 0, 1, 2}).contiguous();  // (C, T, H, W)
}

at::Tensor session_artificial_movie(const at::Tensor& stimulus, int64_t repetitions, bool left_eye) {
  check(repetitions >= 1, "repetitions", "the session has no complete repetition of the stimulus");
  at::Tensor m = stimulus.repeat({1, repetitions, 1, 1});
  return (left_eye ? m.flip(3) : m).contiguous();
}

}  // namespace fovea::data
