#pragma once
// Independent random streams derived from one seed. Each part of a simulation
// (images, neurons, noise) and each image gets its own std::mt19937_64, so the
// numbers do not depend on the order or the number of threads that draw them.
#include <cstdint>
#include <random>

namespace fovea::data {

// splitmix64: a good 64-bit mix, so that nearby (seed, stream, index) give
// unrelated generator states.
inline uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

enum class Stream : uint64_t { images = 1, neurons = 2, noise = 3, order = 4 };

inline std::mt19937_64 make_stream(uint64_t seed, Stream stream, uint64_t index = 0) {
  uint64_t s = splitmix64(seed);
  s = splitmix64(s ^ static_cast<uint64_t>(stream));
  s = splitmix64(s ^ index);
  return std::mt19937_64(s);
}

// Uniform double in [lo, hi) from 53 random bits: unlike
// std::uniform_real_distribution its output is the same with every standard library.
inline double uniform(std::mt19937_64& rng, double lo = 0.0, double hi = 1.0) {
  return lo + (hi - lo) * (static_cast<double>(rng() >> 11) * 0x1.0p-53);
}

}  // namespace fovea::data
