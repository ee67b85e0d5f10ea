#pragma once
// openretina's fr_normalization: the number every response of the published
// retina datasets (Goldin, Karamanlis, Maheswaranathan) is divided by.
#include <cmath>
#include <string>

#include "fovea/error.h"

namespace fovea::data {

// A positive, finite number, or a one-line error naming the field.
inline void check_fr_normalization(double fr_normalization) {
  check(fr_normalization > 0.0 && std::isfinite(fr_normalization), "fr_normalization",
        "must be a positive number, got " + std::to_string(fr_normalization));
}

}  // namespace fovea::data
