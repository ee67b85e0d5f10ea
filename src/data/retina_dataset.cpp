// Reading openretina's generic HDF5 layout.
#include "fovea/data/retina_dataset.h"

#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "fovea/error.h"
#include "fovea/io/hdf5.h"
#include "fovea/io/npy.h"

namespace fovea::data {

namespace fs = std::filesystem;

std::vector<std::string> RetinaDataset::sessions() const {
  std::vector<std::string> s;
  for (const auto& [k, v] : responses) s.push_back(k);
  return s;
}

std::map<std::string, int64_t> RetinaDataset::n_neurons_dict() const {
  std::map<std::string, int64_t> m;
  for (const auto& [k, v] : responses) m[k] = v.train.defined() ? v.train.size(0) : v.test.begin()->second.size(0);
  return m;
}

namespace {

std::string shape_of(const at::Tensor& t) {
  std::string s = "(";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + ")";
}

at::Tensor check_movie(const at::Tensor& m, const std::string& origin, const RetinaLoadOptions& o) {
  if (m.dim() != 4) fail(origin, "a stimulus must be (channels, time, height, width), got " + shape_of(m));
  if (!o.stimulus_size.empty()) {
    if (o.stimulus_size.size() != 3 || m.size(0) != o.stimulus_size[0] || m.size(2) != o.stimulus_size[1] ||
        m.size(3) != o.stimulus_size[2])
      fail(origin, "stimulus has shape " + shape_of(m) + ", expected (C, T, H, W) with (C, H, W) = (" +
                       std::to_string(o.stimulus_size.at(0)) + ", " + std::to_string(o.stimulus_size.at(1)) + ", " +
                       std::to_string(o.stimulus_size.at(2)) + ")");
  }
  at::Tensor f = m.to(torch::kFloat32);
  if (!torch::isfinite(f).all().item<bool>()) fail(origin, "stimulus contains NaN or infinite values");
  return (f - o.norm_mean) / o.norm_std;
}

const std::string kByTrialSuffix = "_by_trial";
constexpr const char* kTrialGroup = "test_by_trial";

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() > suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool is_test_name(const RetinaLoadOptions& o, const std::string& name) {
  return std::find(o.test_names.begin(), o.test_names.end(), name) != o.test_names.end();
}

// Repeated test trials (trials, neurons, frames) from `dataset`, checked
// against the test stimulus' frames and, when given, the trial average.
at::Tensor read_trials(const std::string& path, const std::string& dataset, int64_t frames,
                       const at::Tensor& average) {
  at::Tensor t = io::read_h5_dataset(path, dataset).to(torch::kFloat32);
  if (t.dim() != 3) fail(path, dataset + " must be (trials, neurons, time), got " + shape_of(t));
  if (t.size(0) < 1) fail(path, dataset + " has no trials");
  if (t.size(2) != frames)
    fail(path, dataset + " has " + std::to_string(t.size(2)) + " frames, the stimulus has " + std::to_string(frames));
  if (average.defined() && t.size(1) != average.size(0))
    fail(path, dataset + " has " + std::to_string(t.size(1)) + " neurons, the trial average " +
                   std::to_string(average.size(0)));
  const int64_t nan = torch::isnan(t).sum().item<int64_t>();
  if (nan > 0) fail(path, dataset + " contains " + std::to_string(nan) + " NaN values");
  return t;
}

}  // namespace

RetinaDataset load_hdf5_layout(const RetinaLoadOptions& o) {
  if (!fs::is_directory(o.dir)) fail(o.dir, "dataset directory does not exist");
  // Shared stimuli.
  std::map<std::string, at::Tensor> shared;
  const fs::path stim_dir = fs::path(o.dir) / "stimuli";
  if (fs::is_directory(stim_dir))
    for (const auto& e : fs::directory_iterator(stim_dir))
      if (e.path().extension() == ".npy") {
        const std::string path = e.path().string();
        shared[e.path().stem().string()] = check_movie(io::read_npy(path), path, o);
      }
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(o.dir))
    if (e.path().extension() == ".h5" || e.path().extension() == ".hdf5") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  if (files.empty()) fail(o.dir, "no session files (<session>.h5) in the dataset directory");

  RetinaDataset d;
  for (const auto& file : files) {
    const std::string path = file.string(), session = file.stem().string();
    std::map<std::string, at::Tensor> stimuli = shared;
    std::map<std::string, std::string> responses;                   // stimulus name -> responses_<name>
    std::map<std::string, std::vector<std::string>> trial_datasets;  // test name -> datasets with its trials
    std::vector<std::string> by_trial_suffixed;                      // responses_<x>_by_trial members
    for (const auto& member : io::h5_members(path, "/")) {
      if (member.rfind("responses_", 0) == 0) {
        const std::string name = member.substr(10);
        if (ends_with(name, kByTrialSuffix)) by_trial_suffixed.push_back(member);
        else responses[name] = member;
      }
      if (member.rfind("stimulus_", 0) == 0)
        stimuli[member.substr(9)] = check_movie(io::read_h5_dataset(path, member), path + ":" + member, o);
      if (member == kTrialGroup)
        for (const auto& test : io::h5_members(path, kTrialGroup)) {
          if (!is_test_name(o, test))
            fail(path, std::string(kTrialGroup) + "/" + test + " holds repeated trials of '" + test +
                           "', which is not one of the test stimuli");
          trial_datasets[test].push_back(std::string(kTrialGroup) + "/" + test);
        }
    }
    // responses_<x>_by_trial: the trials of test stimulus <x>; otherwise an
    // ordinary stimulus that happens to end in "_by_trial".
    for (const auto& member : by_trial_suffixed) {
      const std::string name = member.substr(10), stem = name.substr(0, name.size() - kByTrialSuffix.size());
      if (is_test_name(o, stem)) {
        trial_datasets[stem].push_back(member);
      } else if (!stimuli.count(name) && (stimuli.count(stem) || responses.count(stem))) {
        fail(path, member + " holds repeated trials of '" + stem + "', which is not one of the test stimuli");
      } else {
        responses[name] = member;
      }
    }
    std::set<std::string> name_set;
    for (const auto& [name, dataset] : responses) name_set.insert(name);
    for (const auto& [name, datasets] : trial_datasets) name_set.insert(name);
    if (name_set.empty()) fail(path, "no responses_<stimulus> datasets");
    SessionResponses r;
    MovieSplit m;
    std::vector<at::Tensor> train_movies, train_responses;
    for (const auto& name : name_set) {  // sorted
      auto it = stimuli.find(name);
      if (it == stimuli.end())
        fail(path, (responses.count(name) ? responses[name] : trial_datasets[name].front()) +
                       " has no stimulus: neither stimuli/" + name + ".npy nor stimulus_" + name);
      const int64_t frames = it->second.size(1);
      const bool is_test = is_test_name(o, name);
      std::vector<std::string> trial_sources = trial_datasets[name];
      at::Tensor resp;
      if (responses.count(name)) {
        resp = io::read_h5_dataset(path, responses[name]).to(torch::kFloat32);
        if (resp.dim() == 3 && is_test) {
          trial_sources.push_back(responses[name]);
          resp = at::Tensor();
        } else if (resp.dim() != 2) {
          fail(path, "responses_" + name + " must be (neurons, time)" +
                         (is_test ? std::string(" or (trials, neurons, time)") : std::string()) + ", got " +
                         shape_of(resp));
        }
      }
      if (trial_sources.size() > 1)
        fail(path, "repeated trials of '" + name + "' are given twice, in " + trial_sources[0] + " and " +
                       trial_sources[1] + "; keep one");
      if (!trial_sources.empty()) {
        at::Tensor trials = read_trials(path, trial_sources[0], frames, resp);
        r.test_by_trial[name] = trials;
        if (!resp.defined()) resp = at::nanmean(trials, 0);
      }
      if (resp.size(1) != frames)
        fail(path, "responses_" + name + " has " + std::to_string(resp.size(1)) + " frames, the stimulus has " +
                       std::to_string(frames));
      const int64_t nan = torch::isnan(resp).sum().item<int64_t>();
      if (nan > 0) fail(path, "responses_" + name + " contains " + std::to_string(nan) + " NaN values");
      if (is_test) {
        r.test[name] = resp;
        m.test[name] = it->second;
      } else {
        train_responses.push_back(resp);
        train_movies.push_back(it->second);
      }
    }
    if (!train_responses.empty()) {
      // The training stimuli are joined along time: neurons, channels and
      // frame sizes must agree (fuzz_retina_layout: a c10::Error from cat).
      const std::vector<std::string> train_names = [&] {
        std::vector<std::string> n;
        for (const auto& name : name_set)
          if (!is_test_name(o, name)) n.push_back(name);
        return n;
      }();
      for (size_t i = 1; i < train_responses.size(); ++i) {
        if (train_responses[i].size(0) != train_responses[0].size(0))
          fail(path, "responses_" + train_names[i] + " has " + std::to_string(train_responses[i].size(0)) +
                         " neurons, responses_" + train_names[0] + " " + std::to_string(train_responses[0].size(0)));
        const at::Tensor &a = train_movies[0], &b = train_movies[i];
        if (a.size(0) != b.size(0) || a.size(2) != b.size(2) || a.size(3) != b.size(3))
          fail(path, "stimulus '" + train_names[i] + "' is " + shape_of(b) + ", stimulus '" + train_names[0] + "' " +
                         shape_of(a) + ": channels, height and width must agree");
      }
      r.train = torch::cat(train_responses, 1);
      m.train = torch::cat(train_movies, 1);
      for (const auto& [k, v] : r.test)
        if (v.size(0) != r.train.size(0))
          fail(path, "responses_" + k + " has " + std::to_string(v.size(0)) + " neurons, the training responses " +
                         std::to_string(r.train.size(0)));
    }
    if (io::h5_has(path, "session_info"))
      for (const auto& key : io::h5_members(path, "session_info"))
        r.info[key] = io::read_h5_dataset(path, "session_info/" + key);
    d.responses[session] = r;
    d.movies[session] = m;
  }
  return d;
}

}  // namespace fovea::data
