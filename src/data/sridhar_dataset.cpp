// The Sridhar 2025 stimuli (NM frames rendered from fixations, WN trials) and
// the dataset assembled from them (see the header for the layout).
#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "data/tensor_checks.h"
#include "fovea/data/sridhar_dataset.h"
#include "fovea/error.h"
#include "fovea/io/npy.h"

namespace fovea::data {
namespace {

namespace fs = std::filesystem;

// dataloader/sridhar_nm_2025.yaml
constexpr int64_t kFullW = 350, kFullH = 300;  // an image is (full_img_w, full_img_h)
constexpr int64_t kImgW = 200, kImgH = 150, kPadding = 50;
constexpr int64_t kCropTop = 35, kCropBottom = 35, kCropLeft = 55, kCropRight = 55;  // big_crops

std::string response_file(const std::string& id, const SridharOptions& o) {
  return "responses/cell_responses_" + id + (o.stimulus == "whitenoise" ? "_wn.pkl" : "_fixation_movie.pkl");
}

// The retina ids to read: the options' list, or every id with a response pickle.
std::vector<std::string> retina_ids(const SridharOptions& o) {
  if (!o.sessions.empty()) return o.sessions;
  const std::string suffix = o.stimulus == "whitenoise" ? "_wn.pkl" : "_fixation_movie.pkl";
  const std::string prefix = "cell_responses_";
  std::vector<std::string> ids;
  const fs::path dir = fs::path(o.dir) / "responses";
  if (fs::is_directory(dir))
    for (const auto& e : fs::directory_iterator(dir)) {
      const std::string n = e.path().filename().string();
      if (n.size() > prefix.size() + suffix.size() && n.rfind(prefix, 0) == 0 &&
          n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0)
        ids.push_back(n.substr(prefix.size(), n.size() - prefix.size() - suffix.size()));
    }
  std::sort(ids.begin(), ids.end());
  check(!ids.empty(), dir.string(), "no response files (expected " + prefix + "<retina id>" + suffix + ")");
  return ids;
}

// ---- NM ----------------------------------------------------------------------------

struct Fixation {
  int64_t image, center_x, center_y;
  bool flag;
};

// Python's int(float(field)).
int64_t int_field(const std::string& field, const std::string& file, int64_t line, const std::string& what) {
  try {
    size_t used = 0;
    const double v = std::stod(field, &used);
    if (std::isfinite(v)) return static_cast<int64_t>(std::trunc(v));
  } catch (const std::exception&) {
  }
  fail(file, "line " + std::to_string(line) + ": " + what + " '" + field + "' is not a number");
}

// The first `count` lines of a fixation file, split on single spaces as openretina does.
std::vector<Fixation> read_fixations(const std::string& file, int64_t count, bool flip_imgs) {
  std::ifstream in(file);
  check(in.good(), file, "cannot open the fixation file");
  std::vector<Fixation> out;
  out.reserve(static_cast<size_t>(count));
  std::string line;
  while (static_cast<int64_t>(out.size()) < count && std::getline(in, line)) {
    const int64_t number = static_cast<int64_t>(out.size()) + 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::vector<std::string> f;
    size_t start = 0;
    for (size_t p; (p = line.find(' ', start)) != std::string::npos; start = p + 1) f.push_back(line.substr(start, p - start));
    f.push_back(line.substr(start));
    check(f.size() >= 5 && !f.back().empty(), file,
          "line " + std::to_string(number) + " has " + std::to_string(f.size()) +
              " fields, expected at least 5 (image, _, _, center_x, center_y, ..., flip flag)");
    const char flag = f.back()[0];
    check(flag == '0' || flag == '1', file, "line " + std::to_string(number) + ": the flip flag (last field) is '" + f.back() + "', expected 0 or 1");
    out.push_back({int_field(f[0], file, number, "image index"), int_field(f[3], file, number, "center_x"),
                   int_field(f[4], file, number, "center_y"), (flag == '1') != flip_imgs});
  }
  check(static_cast<int64_t>(out.size()) == count, file,
        "has " + std::to_string(out.size()) + " fixation lines, the responses need " + std::to_string(count) + " (" +
            std::to_string(kSridharTestFrames) + " test frames, then frames_per_trial per training trial)");
  return out;
}

// load_frames: every *<frame_file>* .npy in sorted name order, ÷255, as float16.
at::Tensor load_frames(const SridharOptions& o) {
  const fs::path dir = fs::path(o.dir) / o.img_dir;
  check(fs::is_directory(dir), dir.string(), "image folder does not exist");
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && e.path().filename().string().find(o.frame_file) != std::string::npos)
      names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  check(!names.empty(), dir.string(), "no image files (names containing '" + o.frame_file + "')");
  std::vector<at::Tensor> frames;
  for (const auto& n : names) {
    const std::string path = (dir / n).string();
    const at::Tensor img = io::read_npy(path);
    check(img.dim() == 2 && img.size(0) == kFullW && img.size(1) == kFullH, path,
          "image has shape " + shape_string(img) + ", expected (" + std::to_string(kFullW) + ", " + std::to_string(kFullH) + ")");
    const at::Tensor f = img.to(at::kDouble) / 255.0;
    check_finite(f, path, "image");
    frames.push_back(f.to(at::kHalf));
  }
  return at::stack(frames);
}

// _render_frame for fixations[first, first + count): (1, count, 80, 90) float32.
at::Tensor render(const at::Tensor& frames, const std::vector<Fixation>& fix, int64_t first, int64_t count,
                  const std::string& file) {
  const int64_t h = kImgH - kCropTop - kCropBottom, w = kImgW - kCropLeft - kCropRight;
  at::Tensor movie = at::empty({1, count, h, w}, at::kFloat);
  for (int64_t i = 0; i < count; ++i) {
    const Fixation& f = fix[static_cast<size_t>(first + i)];
    const std::string line = "line " + std::to_string(first + i + 1);
    check(f.image >= 0 && f.image < frames.size(0), file,
          line + ": image index " + std::to_string(f.image) + ", there are " + std::to_string(frames.size(0)) + " images");
    const int64_t cx = f.center_x + kPadding, cy = f.center_y + kPadding;
    check(cx - kImgW / 2 >= 0 && cx + kImgW / 2 <= kFullW && cy - kImgH / 2 >= 0 && cy + kImgH / 2 <= kFullH, file,
          line + ": the 200x150 cut around center (" + std::to_string(f.center_x) + ", " + std::to_string(f.center_y) +
              ") leaves the padded image");
    at::Tensor cut = frames[f.image].slice(0, cx - kImgW / 2, cx + kImgW / 2).slice(1, cy - kImgH / 2, cy + kImgH / 2);
    if (!f.flag) cut = cut.flip(1);  // fliplr when the flag is 0
    movie[0][i].copy_(cut.t().slice(0, kCropTop, kImgH - kCropBottom).slice(1, kCropLeft, kImgW - kCropRight));
  }
  return movie;
}

// ---- WN ----------------------------------------------------------------------------

// all_images.npy (h, w, n) cropped and made (n, h', w') float32.
at::Tensor read_wn_images(const std::string& path) {
  const at::Tensor a = io::read_npy(path);
  check(a.dim() == 3, path, "all_images has shape " + shape_string(a) + ", expected (height, width, images)");
  check(a.size(0) > kCropTop + kCropBottom && a.size(1) > kCropLeft + kCropRight, path,
        "all_images frames are " + std::to_string(a.size(0)) + "x" + std::to_string(a.size(1)) +
            ", smaller than the crop (35, 35, 55, 55)");
  at::Tensor m = a.slice(0, kCropTop, a.size(0) - kCropBottom).slice(1, kCropLeft, a.size(1) - kCropRight);
  m = m.permute({2, 0, 1}).to(at::kFloat).contiguous();
  check_finite(m, path, "all_images");
  return m;
}

// Pairs stimulus frame i with response frame i + extra: the movie keeps its
// first n − extra frames, the responses (..., T) frames [extra, n).
std::pair<at::Tensor, at::Tensor> align_wn(const at::Tensor& movie, const at::Tensor& responses, int64_t extra,
                                           const std::string& stim_file, const std::string& resp_file,
                                           const std::string& what) {
  const int64_t n = movie.size(0);
  check(responses.size(-1) >= n, resp_file,
        what + " has " + std::to_string(responses.size(-1)) + " frames, " + stim_file + " has " + std::to_string(n) + " images");
  check(n > extra, stim_file, "has " + std::to_string(n) + " images, not more than extra_frame " + std::to_string(extra));
  return {movie.narrow(0, 0, n - extra), responses.narrow(-1, extra, n - extra)};
}

std::string trial_dir(int64_t t) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "trial_%03lld", static_cast<long long>(t));
  return buf;
}

// ---- split and STAs --------------------------------------------------------------

// The trials of the training movie (indices into the responses' trial axis)
// and which of those clips validate (sridhar_split): the split's trials in
// ascending order, the validation clips where their trials fall; with
// final_training every trial of the split trains and the validation trials
// follow again at the end as the validation clips.
struct TrialOrder {
  std::vector<int64_t> clips, val_clips;
};

TrialOrder trial_order(int64_t n_trials, const SridharOptions& o) {
  const auto [train, val] = sridhar_split(n_trials, o);
  TrialOrder out;
  std::vector<int64_t> all = train;
  if (!o.final_training) all.insert(all.end(), val.begin(), val.end());
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  out.clips = all;
  for (const int64_t v : val) {
    if (o.final_training) {
      out.val_clips.push_back(static_cast<int64_t>(out.clips.size()));
      out.clips.push_back(v);
    } else {
      out.val_clips.push_back(std::lower_bound(all.begin(), all.end(), v) - all.begin());
    }
  }
  return out;
}

// (N, 2) int64: the STA location (row, col) of each kept cell.
at::Tensor sta_locations(const std::string& id, const std::vector<int64_t>& cells, bool nm, const SridharOptions& o) {
  at::Tensor out = at::empty({static_cast<int64_t>(cells.size()), 2}, at::kLong);
  for (size_t i = 0; i < cells.size(); ++i) {
    const std::string file =
        (fs::path(o.dir) / o.sta_dir / ("cell_data_" + id + "_WN_stas_cell_" + std::to_string(cells[i]) + ".npy")).string();
    check(fs::is_regular_file(file), file,
          "the STA of cell " + std::to_string(cells[i]) + " is missing (data.get_locations: false reads no STAs)");
    const auto loc = sridhar_sta_location(file, /*flip_sta=*/nm);  // frame_movie_loader hard-codes flip_sta=True
    out[static_cast<int64_t>(i)][0] = loc[0];
    out[static_cast<int64_t>(i)][1] = loc[1];
  }
  return out;
}

}  // namespace

RetinaDataset load_sridhar_2025(const SridharOptions& o) {
  check(o.stimulus == "natural_movie" || o.stimulus == "whitenoise", "stimulus",
        "must be natural_movie or whitenoise, got '" + o.stimulus + "'");
  check(o.extra_frame >= 0, "extra_frame", "must be >= 0");
  if (!fs::is_directory(o.dir)) fail(o.dir, "dataset directory does not exist");
  const bool nm = o.stimulus == "natural_movie";
  at::Tensor frames;  // NM images, loaded once
  // Sessions that show the same frames share one movie tensor.
  std::map<std::string, std::pair<at::Tensor, at::Tensor>> shared;
  RetinaDataset d;
  for (const std::string& id : retina_ids(o)) {
    const std::string pickle = (fs::path(o.dir) / response_file(id, o)).string();
    SridharResponses r = read_sridhar_responses(pickle, id, o);
    const int64_t n_trials = r.train.size(2);
    const TrialOrder order = trial_order(n_trials, o);
    std::vector<at::Tensor> trial_responses;  // (N, frames) per clip of the training movie
    for (const int64_t k : order.clips) trial_responses.push_back(r.train.select(2, k));
    int64_t frames_per_trial = r.train.size(1);
    at::Tensor train_responses;
    at::Tensor test = r.test, test_by_trial = r.test_by_trial;
    MovieSplit movies;
    std::string key;
    if (nm) {
      auto fit = o.fixation_files.find(id);
      check(fit != o.fixation_files.end(), "fixation_files", "no fixation file for retina " + id);
      const std::string fix_file = (fs::path(o.dir) / fit->second).string();
      check(test.size(1) <= kSridharTestFrames, pickle,
            "'test_responses' has " + std::to_string(test.size(1)) + " frames, the test movie has " +
                std::to_string(kSridharTestFrames));
      const int64_t last = *std::max_element(r.trials.begin(), r.trials.end());
      key = fix_file + "|" + std::to_string(frames_per_trial) + "|" + std::to_string(test.size(1));
      for (const int64_t k : order.clips) key += "," + std::to_string(r.trials[static_cast<size_t>(k)]);
      if (!shared.count(key)) {
        if (!frames.defined()) frames = load_frames(o);
        const auto fix = read_fixations(fix_file, kSridharTestFrames + frames_per_trial * (last + 1), o.flip_imgs);
        std::map<int64_t, at::Tensor> rendered;  // trial -> movie; final_training shows a trial twice
        std::vector<at::Tensor> trials;
        for (const int64_t k : order.clips) {
          const int64_t t = r.trials[static_cast<size_t>(k)];
          if (!rendered.count(t))
            rendered[t] = render(frames, fix, kSridharTestFrames + frames_per_trial * t, frames_per_trial, fix_file);
          trials.push_back(rendered[t]);
        }
        shared[key] = {at::cat(trials, 1), render(frames, fix, 0, test.size(1), fix_file)};
      }
      train_responses = at::cat(trial_responses, 1);
    } else {
      auto sit = o.wn_image_set.find(id);
      check(sit != o.wn_image_set.end(), "wn_image_set", "no white-noise image set for retina " + id);
      const fs::path set_dir = fs::path(o.dir) / ("non_repeating_stimuli_" + std::to_string(sit->second));
      const std::string test_file =
          (fs::path(o.dir) / ("repeating_stimuli_" + std::to_string(sit->second)) / "all_images.npy").string();
      std::map<int64_t, at::Tensor> read;  // trial -> movie
      std::vector<at::Tensor> movies_t, resp_t;
      for (size_t i = 0; i < order.clips.size(); ++i) {
        const int64_t t = r.trials[static_cast<size_t>(order.clips[i])];
        const std::string file = (set_dir / trial_dir(t) / "all_images.npy").string();
        if (!read.count(t)) read[t] = read_wn_images(file);
        auto [m, resp] = align_wn(read[t], trial_responses[i], o.extra_frame, file, pickle, "'train_responses'");
        if (!movies_t.empty())
          check(m.sizes() == movies_t.front().sizes(), file,
                "all_images has shape " + shape_string(m) + " after cropping, trial " +
                    std::to_string(r.trials[static_cast<size_t>(order.clips[0])]) + " has " +
                    shape_string(movies_t.front()));
        movies_t.push_back(m);
        resp_t.push_back(resp);
      }
      frames_per_trial = movies_t.front().size(0);
      train_responses = at::cat(resp_t, 1);
      auto [test_movie, test_resp] = align_wn(read_wn_images(test_file), test, o.extra_frame, test_file, pickle,
                                              "'test_responses'");
      test = test_resp;
      if (test_by_trial.defined()) test_by_trial = test_by_trial.narrow(2, o.extra_frame, test_movie.size(0));
      key = "wn" + id;
      shared[key] = {at::cat(movies_t, 0).unsqueeze(0), test_movie.unsqueeze(0)};
    }
    movies.train = shared[key].first;
    movies.test["test"] = shared[key].second;
    check(movies.test["test"].size(1) == test.size(1), pickle, "'test_responses' does not cover the test movie");
    d.movies[id] = movies;

    SessionResponses s;
    s.train = train_responses.contiguous();
    s.test["test"] = test.contiguous();
    if (test_by_trial.defined()) s.test_by_trial["test"] = test_by_trial.contiguous();
    s.info["cell_indices"] = at::tensor(r.cell_indices, at::kLong);
    s.info["frames_per_trial"] = at::tensor({frames_per_trial}, at::kLong);
    s.info["num_trials"] = at::tensor({n_trials}, at::kLong);
    s.info["stimulus_seed"] = at::tensor({o.stimulus_seed}, at::kLong);
    if (o.get_locations) s.info["sta_locations"] = sta_locations(id, r.cell_indices, nm, o);
    d.responses[id] = s;
    d.val_clip_indices[id] = order.val_clips;
  }
  return d;
}

}  // namespace fovea::data
