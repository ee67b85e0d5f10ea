#pragma once
// NumPy's legacy RandomState draws that fovea reproduces exactly (so that
// validation splits match openretina's): RandomState(int) seeds MT19937 with
// init_genrand, as std::mt19937(seed) does.
#include <cstdint>
#include <numeric>
#include <random>
#include <utility>
#include <vector>

namespace fovea::data {

// numpy's random_interval(max): masked 32-bit draws, rejected above max.
inline uint32_t numpy_random_interval(std::mt19937& rng, uint32_t max) {
  if (max == 0) return 0;
  uint32_t mask = max;
  for (int s = 1; s <= 16; s *= 2) mask |= mask >> s;
  uint32_t value;
  while ((value = static_cast<uint32_t>(rng()) & mask) > max) {
  }
  return value;
}

// RandomState.permutation(n) on a running stream: numpy's shuffle of 0..n-1
// (Fisher-Yates from the back).
inline std::vector<int64_t> numpy_permutation(std::mt19937& rng, int64_t n) {
  std::vector<int64_t> perm(static_cast<size_t>(n));
  std::iota(perm.begin(), perm.end(), 0);
  for (int64_t i = n - 1; i >= 1; --i)
    std::swap(perm[static_cast<size_t>(i)], perm[numpy_random_interval(rng, static_cast<uint32_t>(i))]);
  return perm;
}

}  // namespace fovea::data
