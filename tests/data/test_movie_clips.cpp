// openretina's clip split and chunk sampling (data_io/base_dataloader.py).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <set>

#include "fovea/data/movie_clips.h"
#include "fovea/error.h"

using fovea::data::numpy_choice_without_replacement;

TEST(NumpyChoice, MatchesNumpyRandomStateChoiceWithoutReplacement) {
  // Expected values printed by NumPy 1.24 (Debian 12's python3-numpy):
  //   /usr/bin/python3 -c "import numpy as np; print(list(np.random.RandomState(S).choice(N, K, replace=False)))"
  EXPECT_EQ(numpy_choice_without_replacement(42, 93, 10),
            (std::vector<int64_t>{40, 22, 55, 72, 0, 26, 39, 67, 10, 44}));
  EXPECT_EQ(numpy_choice_without_replacement(0, 20, 4), (std::vector<int64_t>{18, 1, 19, 8}));
  EXPECT_EQ(numpy_choice_without_replacement(7, 1000, 15),
            (std::vector<int64_t>{778, 334, 271, 802, 216, 408, 812, 94, 487, 170, 24, 242, 542, 930, 886}));
  EXPECT_THROW(numpy_choice_without_replacement(0, 3, 4), fovea::Error);
}

namespace {
// A movie whose every pixel holds its frame index, and responses = frame index + neuron.
std::pair<at::Tensor, at::Tensor> indexed_movie(int64_t frames, int64_t neurons) {
  at::Tensor t = torch::arange(frames, torch::kFloat32);
  at::Tensor movie = t.view({1, frames, 1, 1}).expand({2, frames, 3, 4}).contiguous();
  at::Tensor responses = t.view({1, frames}) + torch::arange(neurons, torch::kFloat32).view({neurons, 1});
  return {movie, responses};
}
}  // namespace

TEST(SplitSession, ValidationClipsAreCutOutOfMovieAndResponsesAlike) {
  auto [movie, responses] = indexed_movie(1050, 3);  // 10 clips of 100, 50 frames left over
  fovea::data::ClipSplitOptions o;
  o.clip_length = 100;
  o.num_val_clips = 3;
  o.seed = 0;
  auto s = fovea::data::split_session(movie, responses, o, "s");
  EXPECT_EQ(s.val_clip_indices, numpy_choice_without_replacement(0, 10, 3));
  ASSERT_EQ(s.val_movie.sizes(), (std::vector<int64_t>{2, 300, 3, 4}));
  ASSERT_EQ(s.val_responses.sizes(), (std::vector<int64_t>{300, 3}));
  for (size_t i = 0; i < 3; ++i) {
    const int64_t clip = s.val_clip_indices[i];
    for (int64_t f : {0, 57, 99}) {
      EXPECT_EQ(s.val_movie[1][static_cast<int64_t>(i) * 100 + f][2][3].item<float>(), clip * 100 + f);
      EXPECT_EQ(s.val_responses[static_cast<int64_t>(i) * 100 + f][2].item<float>(), clip * 100 + f + 2);
    }
  }
  // Training: the 7 other whole clips in order; the 50 leftover frames are dropped.
  ASSERT_EQ(s.train_movie.size(1), 700);
  ASSERT_EQ(s.train_responses.size(0), 700);
  std::set<int64_t> val(s.val_clip_indices.begin(), s.val_clip_indices.end());
  int64_t pos = 0;
  for (int64_t c = 0; c < 10; ++c) {
    if (val.count(c)) continue;
    EXPECT_EQ(s.train_movie[0][pos * 100 + 13][0][0].item<float>(), c * 100 + 13);
    EXPECT_EQ(s.train_responses[pos * 100 + 13][1].item<float>(), c * 100 + 14);
    ++pos;
  }
  EXPECT_TRUE(torch::allclose(s.mean_response, s.train_responses.mean(0)));
}

TEST(SplitSession, GivenValidationIndicesAndErrors) {
  auto [movie, responses] = indexed_movie(500, 2);
  fovea::data::ClipSplitOptions o;
  o.clip_length = 100;
  o.val_clip_indices = {4, 1};
  auto s = fovea::data::split_session(movie, responses, o, "s");
  EXPECT_EQ(s.val_movie[0][0][0][0].item<float>(), 400);
  EXPECT_EQ(s.val_movie[0][100][0][0].item<float>(), 100);
  o.val_clip_indices = {5};
  EXPECT_THROW(fovea::data::split_session(movie, responses, o, "s"), fovea::Error);
  o.val_clip_indices = {};
  o.num_val_clips = 5;  // would leave no training clip
  EXPECT_THROW(fovea::data::split_session(movie, responses, o, "s"), fovea::Error);
  o.num_val_clips = 1;
  EXPECT_THROW(fovea::data::split_session(movie, responses.narrow(1, 0, 499), o, "s"), fovea::Error);
}

TEST(TrainingChunkStarts, OneShiftedChunkPerBlockInShuffledOrder) {
  const int64_t frames = 1030, chunk = 50;
  auto starts = fovea::data::training_chunk_starts(frames, chunk, 1);
  ASSERT_EQ(starts.size(), 21u);  // starts every 50 frames: 0, 50, ..., 1000
  std::vector<int64_t> sorted = starts;
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i < sorted.size(); ++i) {
    const int64_t block = static_cast<int64_t>(i) * chunk;
    EXPECT_GE(sorted[i], std::min(block, frames - chunk));
    EXPECT_LE(sorted[i], std::min(block + chunk - 1, frames - chunk));
  }
  EXPECT_NE(starts, sorted) << "the order is shuffled";
  EXPECT_EQ(starts, fovea::data::training_chunk_starts(frames, chunk, 1)) << "same seed, same chunks";
  EXPECT_NE(starts, fovea::data::training_chunk_starts(frames, chunk, 2)) << "another seed, other shifts";
  EXPECT_THROW(fovea::data::training_chunk_starts(40, chunk, 1), fovea::Error);
}
