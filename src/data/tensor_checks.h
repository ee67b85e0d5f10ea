#pragma once
// Checks on arrays read from users' files, each failing with one line that
// names the file and the problem (fovea::Error).
#include <ATen/ATen.h>

#include <string>

#include "fovea/error.h"

namespace fovea::data {

// "(3, 4, 5)"
inline std::string shape_string(const at::Tensor& t) {
  std::string s = "(";
  for (int64_t d = 0; d < t.dim(); ++d) s += (d ? ", " : "") + std::to_string(t.size(d));
  return s + (t.dim() == 1 ? ",)" : ")");
}

// "<origin>: <what> contains 12 NaN values" / "... 3 infinite values".
inline void check_finite(const at::Tensor& t, const std::string& origin, const std::string& what) {
  if (!at::isFloatingType(t.scalar_type())) return;
  const int64_t nan = t.isnan().sum().item<int64_t>();
  check(nan == 0, origin, what + " contains " + std::to_string(nan) + " NaN value" + (nan == 1 ? "" : "s"));
  const int64_t inf = t.isinf().sum().item<int64_t>();
  check(inf == 0, origin, what + " contains " + std::to_string(inf) + " infinite value" + (inf == 1 ? "" : "s"));
}

// "<origin>: <what> has 3 dimensions, expected 2 (neurons, trials)".
inline void check_dims(const at::Tensor& t, int64_t dims, const std::string& origin, const std::string& what,
                       const std::string& expected_axes) {
  check(t.dim() == dims, origin,
        what + " has " + std::to_string(t.dim()) + " dimension" + (t.dim() == 1 ? "" : "s") + ", expected " +
            std::to_string(dims) + " " + expected_axes);
}

}  // namespace fovea::data
