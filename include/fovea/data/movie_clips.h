#pragma once
// openretina's movie dataloaders (data_io/base_dataloader.py), as data:
//   - the training movie is cut into clips of `clip_length` frames; validation
//     clips are drawn as numpy.random.RandomState(seed).choice(num_clips,
//     num_val_clips, replace=False) does, so the same seed picks the same clips;
//   - validation clips are cut out of movie and responses alike; the remaining
//     clips, in order, form the training movie;
//   - training samples are chunks of `chunk_size` frames starting every
//     `chunk_size` frames, each start shifted by U[0, chunk_size) (capped at
//     T − chunk_size) every epoch, in shuffled order (MovieSampler);
//   - validation samples are the whole clips; test samples the whole movie.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace fovea::data {

// numpy.random.RandomState(seed).choice(n, k, replace=False): the first k
// entries of a legacy Fisher-Yates permutation of 0..n-1 driven by MT19937.
std::vector<int64_t> numpy_choice_without_replacement(uint32_t seed, int64_t n, int64_t k);

struct ClipSplitOptions {
  int64_t clip_length = 100;
  int64_t num_val_clips = 10;
  std::vector<int64_t> val_clip_indices;  // when given, used instead of drawing
  uint32_t seed = 42;
};

// One session's data, ready for sampling. Movies (C, T, H, W), responses (T, N):
// time first, as openretina's datasets hold them, so a chunk is one slice.
struct SessionClips {
  at::Tensor train_movie, train_responses;          // validation clips removed
  at::Tensor val_movie, val_responses;              // the validation clips, concatenated
  std::vector<int64_t> val_clip_indices;            // which clips validate
  std::map<std::string, at::Tensor> test_movies;    // name -> (C, T, H, W)
  std::map<std::string, at::Tensor> test_responses; // name -> (T, N), the trial average
  std::map<std::string, at::Tensor> test_by_trial;  // name -> (trials, T, N), when recorded
  at::Tensor mean_response;                         // (N) over the training frames (openretina's bias init)
};

// Splits one session. `movie` (C, T, H, W), `responses` (N, T) as the readers
// give them. Errors name `session`.
SessionClips split_session(const at::Tensor& movie, const at::Tensor& responses, const ClipSplitOptions& options,
                           const std::string& session);

// Start frames of one epoch's training chunks for a movie of `n_frames`
// (MovieSampler with allow_over_boundaries): every `chunk_size` frames, shifted
// and shuffled with `generator_seed`.
std::vector<int64_t> training_chunk_starts(int64_t n_frames, int64_t chunk_size, uint64_t generator_seed);

}  // namespace fovea::data
