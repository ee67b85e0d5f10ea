// Reading the Goldin et al. 2022 layout (see the header for the layout and
// where fovea differs from openretina on purpose).
#include "fovea/data/goldin_dataset.h"

#include <torch/torch.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>

#include "data/fr_normalization.h"
#include "data/tensor_checks.h"
#include "data/train_test_session.h"
#include "fovea/error.h"
#include "fovea/io/hdf5.h"

namespace fovea::data {
namespace {

namespace fs = std::filesystem;

at::Tensor read_required(const std::string& file, const std::string& dataset, const std::string& expected) {
  check(io::h5_has(file, dataset), file, "/" + dataset + " is missing (expected " + expected + ")");
  return io::read_h5_dataset(file, dataset);
}

// The images (N, H, W) of one split as a movie (1, N, H, W) float32.
at::Tensor read_images(const std::string& file, const std::string& split) {
  const std::string name = split + "/stimulus";
  at::Tensor s = read_required(file, name, "(images, height, width)");
  check_dims(s, 3, file, "/" + name, "(images, height, width)");
  check(s.size(0) >= 1, file, "/" + name + " has no images");
  at::Tensor movie = s.to(torch::kFloat32).unsqueeze(0).contiguous();
  check_finite(movie, file, "/" + name);
  return movie;
}

// (neurons, images) responses of one split, one value per image, divided by fr_normalization.
at::Tensor read_responses(const std::string& file, const std::string& split, int64_t images, const GoldinOptions& o) {
  const std::string name = split + "/response/" + o.response_type;
  at::Tensor r = read_required(file, name, "(neurons, images)");
  check_dims(r, 2, file, "/" + name, "(neurons, images)");
  check(r.size(1) == images, file,
        "/" + name + " has " + std::to_string(r.size(1)) + " responses per neuron, /" + split + "/stimulus has " +
            std::to_string(images) + " images");
  r = r.to(torch::kFloat32);
  check_finite(r, file, "/" + name);
  return (r / o.fr_normalization).contiguous();
}

// test/repeats/cell<k> (repeats, images) stacked in the order of k into
// (repeats, neurons, images), divided by fr_normalization; undefined without test/repeats.
at::Tensor read_repeats(const std::string& file, const at::Tensor& test, const GoldinOptions& o) {
  if (!io::h5_has(file, "test/repeats")) return at::Tensor();
  std::vector<std::pair<int64_t, std::string>> cells;
  for (const auto& m : io::h5_members(file, "test/repeats")) {
    const std::string digits = m.rfind("cell", 0) == 0 ? m.substr(4) : "";
    check(!digits.empty() && std::all_of(digits.begin(), digits.end(), ::isdigit), file,
          "/test/repeats/" + m + ": expected datasets named cell<number>");
    cells.emplace_back(std::stoll(digits), m);
  }
  check(!cells.empty(), file, "/test/repeats is empty (expected cell<number> datasets)");
  std::sort(cells.begin(), cells.end());
  check(static_cast<int64_t>(cells.size()) == test.size(0), file,
        "/test/repeats holds " + std::to_string(cells.size()) + " cells, /test/response/" + o.response_type + " has " +
            std::to_string(test.size(0)) + " neurons");
  std::vector<at::Tensor> per_cell;
  for (const auto& [number, m] : cells) {
    const std::string name = "/test/repeats/" + m;
    at::Tensor c = io::read_h5_dataset(file, "test/repeats/" + m).to(torch::kFloat32);
    check_dims(c, 2, file, name, "(repeats, images)");
    check(c.size(1) == test.size(1), file,
          name + " has " + std::to_string(c.size(1)) + " responses per repeat, /test/stimulus has " +
              std::to_string(test.size(1)) + " images");
    if (!per_cell.empty())
      check(c.size(0) == per_cell.front().size(0), file,
            name + " has " + std::to_string(c.size(0)) + " repeats, /test/repeats/" + cells.front().second + " has " +
                std::to_string(per_cell.front().size(0)));
    check_finite(c, file, name);
    per_cell.push_back(c);
  }
  at::Tensor trials = (torch::stack(per_cell, 1) / o.fr_normalization).contiguous();  // (repeats, neurons, images)
  // openretina asserts np.allclose(test, repeats.mean(0)).
  const at::Tensor mean = trials.to(torch::kFloat64).mean(0), avg = test.to(torch::kFloat64);
  const at::Tensor off = (avg - mean).abs() > (1e-8 + 1e-5 * mean.abs());
  const int64_t bad = off.sum().item<int64_t>();
  check(bad == 0, file,
        "/test/response/" + o.response_type + " differs from the mean over /test/repeats in " + std::to_string(bad) +
            " of " + std::to_string(off.numel()) + " values");
  return trials;
}

}  // namespace

RetinaDataset load_goldin_2022(const GoldinOptions& o) {
  check_fr_normalization(o.fr_normalization);
  check(!o.specie.empty(), "specie", "must name the species (mouse or axolotl)");
  if (!fs::is_directory(o.dir)) fail(o.dir, "dataset directory does not exist");
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(o.dir))
    if (e.is_regular_file() && e.path().filename().string().find(o.specie) != std::string::npos &&
        e.path().filename().string()[0] != '.')  // not hidden files (a download's markers)
      files.push_back(e.path());
  std::sort(files.begin(), files.end());
  check(!files.empty(), o.dir, "no file whose name contains '" + o.specie + "' (the sessions of this species)");

  RetinaDataset d;
  for (const auto& path : files) {
    const std::string file = path.string();
    std::string session = path.filename().string();
    if (session.size() > 3 && session.compare(session.size() - 3, 3, ".h5") == 0) session.resize(session.size() - 3);

    at::Tensor train_movie = read_images(file, "train"), test_movie = read_images(file, "test");
    normalize_by_training_movie(train_movie, test_movie, o.normalize_stimuli, file, "images");
    const at::Tensor train = read_responses(file, "train", train_movie.size(1), o);
    const at::Tensor test = read_responses(file, "test", test_movie.size(1), o);
    check_same_neurons(test, train, file, o.response_type);
    add_session(d, session, train_movie, test_movie, train, test, read_repeats(file, test, o));
  }
  return d;
}

}  // namespace fovea::data
