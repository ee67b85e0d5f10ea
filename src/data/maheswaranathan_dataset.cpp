// Reading the Maheswaranathan et al. 2023 layout (see the header for the
// layout and where fovea differs from openretina on purpose).
#include "fovea/data/maheswaranathan_dataset.h"

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

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// A dataset that must exist, with a message that says what it should hold.
at::Tensor read_required(const std::string& file, const std::string& dataset, const std::string& expected) {
  if (!io::h5_has(file, dataset)) {
    std::string available;
    const auto slash = dataset.rfind('/');
    const std::string group = slash == std::string::npos ? "/" : dataset.substr(0, slash);
    if (group != "/" && io::h5_has(file, group))
      for (const auto& m : io::h5_members(file, group)) available += (available.empty() ? "" : ", ") + m;
    fail(file, "/" + dataset + " is missing (expected " + expected + ")" +
                   (available.empty() ? "" : "; " + group + " holds: " + available));
  }
  return io::read_h5_dataset(file, dataset);
}

// Responses (..., T_response) aligned to a stimulus of `frames` frames: one
// extra trailing bin (the published test set) is dropped, any other
// difference is an error.
at::Tensor align_to_stimulus(const at::Tensor& responses, int64_t frames, const std::string& file,
                             const std::string& what) {
  const int64_t bins = responses.size(-1);
  if (bins == frames + 1) return responses.narrow(-1, 0, frames);
  check(bins == frames, file,
        what + " has " + std::to_string(bins) + " time bins, the stimulus has " + std::to_string(frames) + " frames");
  return responses;
}

// The stimulus (T, H, W) as a movie (1, T, H, W) float32.
at::Tensor read_stimulus(const std::string& file, const std::string& split) {
  at::Tensor s = read_required(file, split + "/stimulus", "(frames, height, width)");
  check_dims(s, 3, file, "/" + split + "/stimulus", "(frames, height, width)");
  check(s.size(0) >= 1, file, "/" + split + "/stimulus has no frames");
  at::Tensor movie = s.to(torch::kFloat32).unsqueeze(0).contiguous();
  check_finite(movie, file, "/" + split + "/stimulus");
  return movie;
}

// (neurons, T) responses of one split, divided by fr_normalization.
at::Tensor read_responses(const std::string& file, const std::string& split, int64_t frames,
                          const MaheswaranathanOptions& o) {
  const std::string name = split + "/response/" + o.response_type;
  at::Tensor r = read_required(file, name, "(neurons, time)");
  check_dims(r, 2, file, "/" + name, "(neurons, time)");
  r = align_to_stimulus(r.to(torch::kFloat32), frames, file, "/" + name);
  check_finite(r, file, "/" + name);
  return (r / o.fr_normalization).contiguous();
}

// The repeated test trials (repeats, neurons, T), or an undefined tensor when
// the file has none for this response type.
at::Tensor read_repeats(const std::string& file, int64_t neurons, int64_t frames, const MaheswaranathanOptions& o) {
  if (!io::h5_has(file, "test/repeats")) return at::Tensor();
  at::Tensor trials;
  const std::string stacked = "test/repeats/" + o.response_type;
  if (io::h5_has(file, stacked)) {
    trials = io::read_h5_dataset(file, stacked).to(torch::kFloat32);
    check_dims(trials, 3, file, "/" + stacked, "(repeats, neurons, time)");
  } else {
    // One (repeats, time) dataset per cell, "cell01", "cell02", ... in the order of their numbers.
    std::vector<std::pair<int64_t, std::string>> cells;
    for (const auto& m : io::h5_members(file, "test/repeats")) {
      if (m.rfind("cell", 0) != 0) continue;
      const std::string digits = m.substr(4);
      check(!digits.empty() && std::all_of(digits.begin(), digits.end(), ::isdigit), file,
            "/test/repeats/" + m + ": expected cell<number>");
      cells.emplace_back(std::stoll(digits), m);
    }
    if (cells.empty()) return at::Tensor();  // repeats of other response types only
    std::sort(cells.begin(), cells.end());
    std::vector<at::Tensor> per_cell;
    for (const auto& [number, m] : cells) {
      at::Tensor c = io::read_h5_dataset(file, "test/repeats/" + m).to(torch::kFloat32);
      check_dims(c, 2, file, "/test/repeats/" + m, "(repeats, time)");
      if (!per_cell.empty() && c.sizes() != per_cell.front().sizes())
        fail(file, "/test/repeats/" + m + " has shape " + shape_string(c) + ", /test/repeats/" +
                       cells.front().second + " has " + shape_string(per_cell.front()));
      per_cell.push_back(c);
    }
    trials = torch::stack(per_cell, 1);  // (repeats, neurons, time)
  }
  check(trials.size(1) == neurons, file,
        "/test/repeats has " + std::to_string(trials.size(1)) + " neurons, /test/response/" + o.response_type +
            " has " + std::to_string(neurons));
  trials = align_to_stimulus(trials, frames, file, "/test/repeats");
  check_finite(trials, file, "/test/repeats");
  return (trials / o.fr_normalization).contiguous();
}

}  // namespace

RetinaDataset load_maheswaranathan_2023(const MaheswaranathanOptions& o) {
  check_fr_normalization(o.fr_normalization);
  fs::path root(o.dir);
  // The published zip unpacks to neural_code_data/ganglion_cell_data/<session>/.
  if (fs::is_directory(root / "neural_code_data" / "ganglion_cell_data")) root /= "neural_code_data";
  if (fs::is_directory(root / "ganglion_cell_data")) root /= "ganglion_cell_data";
  if (!fs::is_directory(root)) fail(o.dir, "dataset directory does not exist");
  std::vector<fs::path> session_dirs;
  for (const auto& e : fs::directory_iterator(root))
    if (e.is_directory()) session_dirs.push_back(e.path());
  std::sort(session_dirs.begin(), session_dirs.end());

  RetinaDataset d;
  const std::string suffix = o.stim_type + ".h5";
  for (const auto& session_dir : session_dirs) {
    std::vector<std::string> files;
    for (const auto& e : fs::directory_iterator(session_dir))
      if (e.is_regular_file() && ends_with(e.path().filename().string(), suffix)) files.push_back(e.path().string());
    if (files.empty()) continue;  // as openretina: a session without this stimulus is skipped
    std::sort(files.begin(), files.end());
    if (files.size() > 1)
      fail(session_dir.string(), std::to_string(files.size()) + " files end in " + suffix + " (" + files[0] + ", " +
                                     files[1] + "); keep one per session");
    const std::string& file = files.front();
    const std::string session = session_dir.filename().string();

    at::Tensor train_movie = read_stimulus(file, "train"), test_movie = read_stimulus(file, "test");
    normalize_by_training_movie(train_movie, test_movie, o.normalize_stimuli, file, "frames");
    const at::Tensor train = read_responses(file, "train", train_movie.size(1), o);
    const at::Tensor test = read_responses(file, "test", test_movie.size(1), o);
    check_same_neurons(test, train, file, o.response_type);
    add_session(d, session, train_movie, test_movie, train, test, read_repeats(file, test.size(0), test_movie.size(1), o));
  }
  if (d.responses.empty())
    fail(root.string(), "no session folder holds a file ending in " + suffix +
                            " (expected [neural_code_data/]ganglion_cell_data/<session>/<...>" + suffix + ")");
  return d;
}

}  // namespace fovea::data
