#pragma once
// The Höfling 2024 movie pickle (see fovea/data/hoefling_dataset.h) and the
// training movie of one presentation sequence.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

namespace fovea::data {

struct HoeflingMovies {
  at::Tensor train;             // (C, 108·150, H, W) float32, canonical clip order
  at::Tensor test;              // (C, 750, H, W) float32
  at::Tensor random_sequences;  // (108, sequences) int64: column s = clip ids in presentation order
};

// Reads and checks the pickle; errors name `path` and the key.
HoeflingMovies read_hoefling_movies(const std::string& path);

// The 108 training clips in the presentation order of `sequence`
// (random_sequences[:, sequence]), (C, 16200, H, W).
at::Tensor presentation_movie(const HoeflingMovies& movies, int64_t sequence);

}  // namespace fovea::data
