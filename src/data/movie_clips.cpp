// Clips, validation split and chunk sampling of openretina's movie dataloaders.
#include "fovea/data/movie_clips.h"

#include <torch/torch.h>

#include <algorithm>
#include <numeric>
#include <random>

#include "data/numpy_random.h"
#include "fovea/error.h"

namespace fovea::data {

std::vector<int64_t> numpy_choice_without_replacement(uint32_t seed, int64_t n, int64_t k) {
  check(n >= 0 && k >= 0 && k <= n, "validation clips",
        "cannot draw " + std::to_string(k) + " of " + std::to_string(n) + " clips without replacement");
  // RandomState(int) seeds MT19937 with init_genrand, as std::mt19937(seed) does.
  std::mt19937 rng(seed);
  std::vector<int64_t> perm = numpy_permutation(rng, n);
  perm.resize(static_cast<size_t>(k));
  return perm;
}

SessionClips split_session(const at::Tensor& movie, const at::Tensor& responses, const ClipSplitOptions& o,
                           const std::string& session) {
  check(movie.dim() == 4, session, "the training movie must be (channels, time, height, width)");
  check(responses.dim() == 2, session, "the training responses must be (neurons, time)");
  const int64_t T = movie.size(1);
  check(responses.size(1) == T, session,
        "the training responses have " + std::to_string(responses.size(1)) + " frames, the movie has " +
            std::to_string(T));
  check(o.clip_length > 0, session, "clip_length must be positive");
  const int64_t num_clips = T / o.clip_length;
  SessionClips s;
  if (!o.val_clip_indices.empty()) {
    s.val_clip_indices = o.val_clip_indices;
    for (int64_t i : s.val_clip_indices)
      check(i >= 0 && i < num_clips, session,
            "validation clip " + std::to_string(i) + " does not exist (the movie has " + std::to_string(num_clips) +
                " clips of " + std::to_string(o.clip_length) + " frames)");
  } else {
    check(o.num_val_clips < num_clips, session,
          "the movie has " + std::to_string(num_clips) + " clips of " + std::to_string(o.clip_length) +
              " frames: too few to hold out " + std::to_string(o.num_val_clips) + " for validation and train on the rest");
    s.val_clip_indices = numpy_choice_without_replacement(o.seed, num_clips, o.num_val_clips);
  }
  at::Tensor resp_t = responses.t();  // (T, N)
  std::vector<bool> is_val(static_cast<size_t>(num_clips), false);
  std::vector<at::Tensor> vm, vr, tm, tr;
  for (int64_t i : s.val_clip_indices) {
    is_val[static_cast<size_t>(i)] = true;
    vm.push_back(movie.narrow(1, i * o.clip_length, o.clip_length));
    vr.push_back(resp_t.narrow(0, i * o.clip_length, o.clip_length));
  }
  // openretina keeps only whole clips in the training movie; the frames after
  // the last whole clip are dropped.
  for (int64_t i = 0; i < num_clips; ++i)
    if (!is_val[static_cast<size_t>(i)]) {
      tm.push_back(movie.narrow(1, i * o.clip_length, o.clip_length));
      tr.push_back(resp_t.narrow(0, i * o.clip_length, o.clip_length));
    }
  s.train_movie = torch::cat(tm, 1).contiguous();
  s.train_responses = torch::cat(tr, 0).contiguous();
  if (!vm.empty()) {
    s.val_movie = torch::cat(vm, 1).contiguous();
    s.val_responses = torch::cat(vr, 0).contiguous();
  }
  s.mean_response = s.train_responses.mean(0);
  return s;
}

std::vector<int64_t> training_chunk_starts(int64_t n_frames, int64_t chunk_size, uint64_t generator_seed) {
  check(chunk_size > 0 && chunk_size <= n_frames, "training chunks",
        "chunk_size " + std::to_string(chunk_size) + " does not fit a training movie of " + std::to_string(n_frames) +
            " frames");
  std::mt19937_64 rng(generator_seed);
  std::vector<int64_t> starts;
  for (int64_t start = 0; start < n_frames; start += chunk_size) {
    const int64_t shift = static_cast<int64_t>(rng() % static_cast<uint64_t>(chunk_size));
    starts.push_back(std::min(start + shift, n_frames - chunk_size));
  }
  for (size_t i = starts.size(); i > 1; --i) std::swap(starts[i - 1], starts[rng() % i]);
  return starts;
}

}  // namespace fovea::data
