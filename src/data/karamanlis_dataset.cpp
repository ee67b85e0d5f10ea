// Reading the Karamanlis et al. 2024 layout (see fovea/data/karamanlis_dataset.h
// for the layout and where fovea differs from openretina on purpose).
#include "fovea/data/karamanlis_dataset.h"

#include <ATen/ATen.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>

#include "data/fr_normalization.h"
#include "data/tensor_checks.h"
#include "fovea/error.h"
#include "fovea/io/download.h"
#include "fovea/io/hdf5.h"
#include "fovea/io/npy.h"

namespace fovea::data {
namespace {

namespace fs = std::filesystem;

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

at::Tensor read_key(const std::string& file, const std::string& key, int64_t dims, const std::string& axes) {
  if (!io::h5_has(file, key)) fail(file, "'" + key + "' is missing (expected " + axes + ")");
  at::Tensor t = io::read_h5_dataset(file, key);
  check_dims(t, dims, file, "'" + key + "'", axes);
  return t;
}

// The one file under `folder` whose name ends in `suffix` ("" when none).
std::string one_file(const fs::path& folder, const std::string& suffix) {
  std::vector<std::string> found;
  for (const auto& e : fs::recursive_directory_iterator(folder))
    if (e.is_regular_file() && ends_with(e.path().filename().string(), suffix)) found.push_back(e.path().string());
  std::sort(found.begin(), found.end());
  if (found.size() > 1)
    fail(folder.string(), std::to_string(found.size()) + " files end in " + suffix + " (" + found[0] + ", " +
                              found[1] + "); keep one per session");
  return found.empty() ? "" : found.front();
}

// A movie (1, T, height, width) from images (n_img, x, y) and fixations
// (n_frames, 3), rendered and resized a few frames at a time (a 600×800 frame
// is 1.9 MB).
at::Tensor render_movie(const at::Tensor& images_xy, const at::Tensor& fixations, const KaramanlisOptions& o,
                        const std::string& file) {
  const at::Tensor images = images_xy.permute({0, 2, 1}).to(at::kFloat).contiguous();  // (n_img, y, x)
  constexpr int64_t kChunk = 32;
  std::vector<at::Tensor> parts;
  for (int64_t first = 0; first < fixations.size(0); first += kChunk) {
    const int64_t count = std::min(kChunk, fixations.size(0) - first);
    parts.push_back(resize_bilinear_antialias(render_fixation_frames(images, fixations, first, count, file), o.height,
                                              o.width));
  }
  return at::cat(parts, 0).unsqueeze(0);
}

at::Tensor check_images(const at::Tensor& images, const std::string& file, const std::string& key) {
  check_dims(images, 3, file, "'" + key + "'", "(images, x, y)");
  check(images.size(0) >= 1, file, "'" + key + "' holds no images");
  check_finite(images, file, "'" + key + "'");
  return images;
}

at::Tensor check_fixations(const at::Tensor& fixations, const std::string& file, const std::string& key) {
  check(fixations.size(-1) == 3, file,
        "'" + key + "' has " + std::to_string(fixations.size(-1)) + " values per frame, expected 3 (image, x, y)");
  return fixations.to(at::kLong);
}

struct Movies {
  at::Tensor train, test;  // (1, T, H, W) float32, not yet normalised
};

Movies render_movies(const std::string& mat, const KaramanlisOptions& o) {
  const at::Tensor running_images = check_images(read_key(mat, "runningImages", 3, "(images, x, y)"), mat, "runningImages");
  const at::Tensor frozen_images = check_images(read_key(mat, "frozenImages", 3, "(images, x, y)"), mat, "frozenImages");
  const at::Tensor running = check_fixations(read_key(mat, "runningfixations", 3, "(blocks, frames, 3)"), mat,
                                             "runningfixations");
  const at::Tensor frozen = check_fixations(read_key(mat, "frozenfixations", 2, "(frames, 3)"), mat,
                                            "frozenfixations");
  std::vector<at::Tensor> blocks;
  for (int64_t b = 0; b < running.size(0); ++b) blocks.push_back(render_movie(running_images, running[b], o, mat));
  return {at::cat(blocks, 1), render_movie(frozen_images, frozen, o, mat)};
}

Movies read_cache(const std::string& npz, const KaramanlisOptions& o) {
  Movies m{io::read_npz_key(npz, "train_data"), io::read_npz_key(npz, "test_data")};
  for (auto [t, key] : {std::pair{&m.train, "train_data"}, std::pair{&m.test, "test_data"}}) {
    check_dims(*t, 4, npz, std::string("'") + key + "'", "(1, frames, height, width)");
    check(t->size(0) == 1 && t->size(2) == o.height && t->size(3) == o.width, npz,
          std::string("'") + key + "' has shape " + shape_string(*t) + ", expected (1, frames, " +
              std::to_string(o.height) + ", " + std::to_string(o.width) + ")");
    *t = t->to(at::kFloat).contiguous();
    check_finite(*t, npz, std::string("'") + key + "'");
  }
  return m;
}

void write_cache(const std::string& npz, const Movies& m) {
  try {
    io::write_npz(npz, {{"train_data", m.train}, {"test_data", m.test}}, /*compress=*/true);
  } catch (const std::exception& e) {  // a read-only dataset folder: the movies are still used
    spdlog::warn("could not write the stimulus cache {}: {}", npz, e.what());
  }
}

// The session folders: entries of `dir` whose name contains the species; a
// `.zip` is unpacked next to itself and keyed without its suffix.
std::map<std::string, fs::path> session_folders(const fs::path& dir, const std::string& species) {
  std::map<std::string, fs::path> sessions;
  std::vector<fs::path> zips;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.find(species) == std::string::npos) continue;
    if (e.is_directory()) sessions[name] = e.path();
    else if (e.is_regular_file() && e.path().extension() == ".zip") zips.push_back(e.path());
  }
  for (const auto& zip : zips) {
    const std::string key = zip.stem().string();
    if (sessions.count(key)) continue;  // already unpacked
    const fs::path folder = io::unpack_zip_once(zip.string(), (dir / key).string());
    // A zip whose members sit under one folder named like it unpacks to <key>/<key>/.
    sessions[key] = fs::is_directory(folder / key) ? folder / key : folder;
  }
  return sessions;
}

}  // namespace

RetinaDataset load_karamanlis_2024(const KaramanlisOptions& o) {
  check_fr_normalization(o.fr_normalization);
  check(!o.species.empty(), "species", "must name the species in the session folder names (mouse or marmoset)");
  check(o.height > 0 && o.width > 0, "downsampled_size", "must be two positive numbers");
  const fs::path dir(o.dir);
  if (!fs::is_directory(dir)) fail(o.dir, "dataset directory does not exist");

  RetinaDataset d;
  const std::string mat_suffix = o.stim_type + "_data.mat";
  const std::string npz_suffix = o.stim_type + "_data_extracted_stimuli_" + std::to_string(o.height) + "_" +
                                 std::to_string(o.width) + ".npz";
  for (const auto& [session, folder] : session_folders(dir, o.species)) {
    const std::string mat = one_file(folder, mat_suffix);
    if (mat.empty()) fail(folder.string(), "no file ends in " + mat_suffix + " (the session's recording)");

    // Responses: (blocks, frames, N) -> (N, blocks·frames); (trials, frames, N) -> (trials, N, frames).
    const at::Tensor running = read_key(mat, "runningbin", 3, "(blocks, frames, neurons)").to(at::kFloat);
    const at::Tensor frozen = read_key(mat, "frozenbin", 3, "(trials, frames, neurons)").to(at::kFloat);
    check_finite(running, mat, "'runningbin'");
    check_finite(frozen, mat, "'frozenbin'");
    check(running.size(2) == frozen.size(2), mat,
          "'runningbin' has " + std::to_string(running.size(2)) + " neurons, 'frozenbin' has " +
              std::to_string(frozen.size(2)));
    SessionResponses r;
    r.train = (running.permute({2, 0, 1}).reshape({running.size(2), -1}) / o.fr_normalization).contiguous();
    const at::Tensor trials = (frozen.permute({0, 2, 1}) / o.fr_normalization).contiguous();
    r.test_by_trial["test"] = trials;
    r.test["test"] = trials.mean(0);

    const std::string npz = one_file(folder, npz_suffix);
    Movies m;
    if (!npz.empty()) {
      m = read_cache(npz, o);
    } else {
      m = render_movies(mat, o);
      if (o.write_cache) write_cache(mat.substr(0, mat.size() - 4) + "_extracted_stimuli_" + std::to_string(o.height) +
                                         "_" + std::to_string(o.width) + ".npz",
                                     m);
    }
    const std::string movie_file = npz.empty() ? mat : npz;
    check(m.train.size(1) == r.train.size(1), movie_file,
          "the training movie has " + std::to_string(m.train.size(1)) + " frames, 'runningbin' in " + mat + " has " +
              std::to_string(r.train.size(1)));
    check(m.test.size(1) == trials.size(2), movie_file,
          "the test movie has " + std::to_string(m.test.size(1)) + " frames, 'frozenbin' in " + mat + " has " +
              std::to_string(trials.size(2)));
    if (o.normalize_stimuli) {
      // openretina's normalize_train_test_movies: float32 mean and std (ddof 1) of the training movie.
      const at::Tensor mean = m.train.mean(), sd = m.train.std();
      check(sd.item<float>() > 0.0f, movie_file, "the training movie is constant: it cannot be normalised");
      m.train = (m.train - mean) / sd;
      m.test = (m.test - mean) / sd;
    }
    MovieSplit split;
    split.train = m.train;
    split.test["test"] = m.test;
    d.movies[session] = split;
    d.responses[session] = r;
  }
  if (d.responses.empty())
    fail(o.dir, "no entry's name contains '" + o.species + "' (expected one folder or .zip per session, holding a file "
                "ending in " + mat_suffix + ")");
  return d;
}

}  // namespace fovea::data
