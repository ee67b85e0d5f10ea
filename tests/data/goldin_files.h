#pragma once
// Small files in the exact Goldin 2022 layout, for tests: one HDF5 file per
// session with train/ and test/ stimulus (images, H, W), response/binned
// (neurons, images) and test/repeats/cell<k> (repeats, images), written with
// fovea's HDF5 writer (groups created on the way).
#include <torch/torch.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "fovea/io/hdf5.h"

namespace fovea::test::goldin {

// One session's contents. Repeats are per cell, named cell<number>; `test`
// responses are the mean over the repeats unless set explicitly.
struct Session {
  at::Tensor train_images, test_images;   // (images, H, W)
  at::Tensor train_counts, test_counts;   // (neurons, images)
  std::vector<std::pair<int64_t, at::Tensor>> repeats;  // cell number -> (repeats, test images)
};

// A session of `neurons` cells and 8 training / 3 test images of H×W, with
// distinct values everywhere; repeats (4 per cell) numbered 1, 2, 10 when
// neurons is 3 (in HDF5's name order: cell1, cell10, cell2).
inline Session make_session(int64_t neurons, int64_t h, int64_t w, double offset) {
  Session s;
  s.train_images = torch::arange(8 * h * w, torch::kFloat64).reshape({8, h, w}).remainder(251) + offset;
  s.test_images = torch::arange(3 * h * w, torch::kFloat64).reshape({3, h, w}).mul(7).remainder(241) + offset;
  s.train_counts = torch::arange(neurons * 8, torch::kFloat64).reshape({neurons, 8}).remainder(5);
  std::vector<at::Tensor> per_cell;
  const std::vector<int64_t> numbers = {1, 2, 10};
  for (int64_t n = 0; n < neurons; ++n) {
    at::Tensor r = torch::arange(12, torch::kFloat64).reshape({4, 3}).add(n * 3).remainder(7);
    s.repeats.emplace_back(n < 3 ? numbers[static_cast<size_t>(n)] : 20 + n, r);
    per_cell.push_back(r.mean(0));
  }
  s.test_counts = torch::stack(per_cell);
  return s;
}

inline std::vector<std::pair<std::string, at::Tensor>> datasets(const Session& s) {
  std::vector<std::pair<std::string, at::Tensor>> d = {
      {"train/stimulus", s.train_images},
      {"test/stimulus", s.test_images},
      {"train/response/binned", s.train_counts},
      {"test/response/binned", s.test_counts},
  };
  for (const auto& [number, r] : s.repeats) d.emplace_back("test/repeats/cell" + std::to_string(number), r);
  return d;
}

inline void write(const std::string& file, const Session& s) { io::write_h5(file, datasets(s)); }

// Writes `file` with the session's datasets, dataset `drop` left out.
inline void write_without(const std::string& file, const Session& s, const std::string& drop) {
  auto d = datasets(s);
  d.erase(std::remove_if(d.begin(), d.end(), [&](const auto& p) { return p.first == drop; }), d.end());
  io::write_h5(file, d);
}

}  // namespace fovea::test::goldin
