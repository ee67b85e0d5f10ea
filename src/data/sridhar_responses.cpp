// The Sridhar 2025 response pickles and the trial-wise validation split
// (openretina's load_responses and get_trial_wise_validation_split).
#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>
#include <set>

#include "data/numpy_random.h"
#include "data/tensor_checks.h"
#include "fovea/data/sridhar_dataset.h"
#include "fovea/error.h"
#include "fovea/io/pickle.h"
#include "fovea/io/atomic_file.h"

namespace fovea::data {
namespace {

// Python's int() of a pickled list entry.
std::vector<int64_t> int_list(const io::PyRef& v, const std::string& file, const std::string& what) {
  check(v && (v->kind == io::PyValue::Kind::List || v->kind == io::PyValue::Kind::Tuple ||
              v->kind == io::PyValue::Kind::Tensor),
        file, what + " must be a list of integers");
  std::vector<int64_t> out;
  if (v->kind == io::PyValue::Kind::Tensor) {
    const at::Tensor t = v->tensor.reshape({-1}).to(at::kLong);
    for (int64_t i = 0; i < t.numel(); ++i) out.push_back(t[i].item<int64_t>());
    return out;
  }
  for (const auto& item : v->items) {
    check(item && (item->kind == io::PyValue::Kind::Int || item->kind == io::PyValue::Kind::Bool), file,
          what + " must be a list of integers, found " + (item ? item->repr() : "None"));
    out.push_back(item->as_int());
  }
  return out;
}

at::Tensor array_field(const io::PyRef& root, const std::string& key, const std::string& file) {
  const io::PyRef v = root->get(key);
  check(v != nullptr, file, "key '" + key + "' is missing");
  check(v->kind == io::PyValue::Kind::Tensor, file, "'" + key + "' is not an array (" + v->repr() + ")");
  return v->tensor.to(at::kFloat).contiguous();
}

}  // namespace

std::pair<std::vector<int64_t>, std::vector<int64_t>> sridhar_trial_split(int64_t n_trials, uint32_t seed,
                                                                          double train_frac) {
  check(n_trials >= 2, "trial-wise validation split", "needs at least 2 training trials, got " + std::to_string(n_trials));
  check(train_frac > 0.0 && train_frac < 1.0, "train_frac", "must be in (0, 1), got " + std::to_string(train_frac));
  const int64_t n_train = static_cast<int64_t>(std::floor(train_frac * static_cast<double>(n_trials)));
  check(n_train >= 1 && n_train < n_trials, "train_frac",
        std::to_string(train_frac) + " of " + std::to_string(n_trials) + " trials leaves no training or no validation trial");
  std::mt19937 rng(seed);  // set_seed(seed): numpy's global RandomState
  // Trials with repeated content must stay on one side (pairs that exist only).
  const std::vector<std::pair<int64_t, int64_t>> pairs = {{0, 9}, {10, 19}};
  for (int attempt = 0; attempt < 100000; ++attempt) {
    const std::vector<int64_t> perm = numpy_permutation(rng, n_trials);
    std::set<int64_t> train(perm.begin(), perm.begin() + n_train);
    bool ok = true;
    for (const auto& [a, b] : pairs)
      if (a < n_trials && b < n_trials && train.count(a) != train.count(b)) ok = false;
    if (ok) return {std::vector<int64_t>(perm.begin(), perm.begin() + n_train),
                    std::vector<int64_t>(perm.begin() + n_train, perm.end())};
  }
  fail("trial-wise validation split", "no split keeps trials 0 and 9 (and 10 and 19) together for " +
                                          std::to_string(n_trials) + " trials at train_frac " + std::to_string(train_frac));
}

std::pair<std::vector<int64_t>, std::vector<int64_t>> sridhar_split(int64_t n_trials, const SridharOptions& o) {
  if (!o.hard_coded) {
    auto split = sridhar_trial_split(n_trials, o.split_seed, o.train_frac);
    if (o.final_training)  // train_idx = list(train_idx) + list(val_idx)
      split.first.insert(split.first.end(), split.second.begin(), split.second.end());
    return split;
  }
  const std::string key = "data.hard_coded";
  check(!o.final_training, "data.final_training",
        "cannot be combined with data.hard_coded (the hard-coded split replaces the drawn one and openretina then "
        "ignores final_training); list the trials to train on in data.hard_coded.train");
  const auto& [train, val] = *o.hard_coded;
  check(!train.empty(), key + ".train", "lists no trial");
  check(!val.empty(), key + ".validation", "lists no trial");
  std::map<int64_t, std::string> side;
  for (const auto& [name, list] : {std::pair{"train", &train}, std::pair{"validation", &val}})
    for (const int64_t t : *list) {
      check(t >= 0 && t < n_trials, key + "." + name,
            "trial " + std::to_string(t) + " does not exist (the responses have " + std::to_string(n_trials) +
                " training trials, 0.." + std::to_string(n_trials - 1) + ")");
      auto [it, added] = side.emplace(t, name);
      check(added, key + "." + name,
            "trial " + std::to_string(t) + (it->second == name ? " is listed twice" : " is also in data.hard_coded.train"));
    }
  // get_trial_wise_validation_split's rule: trials with repeated content stay on one side.
  for (const auto& [a, b] : {std::pair<int64_t, int64_t>{0, 9}, {10, 19}}) {
    const auto ia = side.find(a), ib = side.find(b);
    if (ia != side.end() && ib != side.end() && ia->second != ib->second)
      fail(key, "trials " + std::to_string(a) + " and " + std::to_string(b) +
                    " show repeated content and must be on the same side (trial " + std::to_string(a) + " is in " +
                    ia->second + ", trial " + std::to_string(b) + " in " + ib->second + ")");
  }
  return {train, val};
}

SridharResponses read_sridhar_responses(const std::string& file, const std::string& id, const SridharOptions& o) {
  const io::PyRef root = io::parse_pickle(io::read_file(file), file);
  check(root && root->is_dict(), file, "expected a pickled dict with train_responses and test_responses");
  SridharResponses r;
  at::Tensor train = array_field(root, "train_responses", file);
  check_dims(train, 3, file, "'train_responses'", "(neurons, frames_per_trial, trials)");
  at::Tensor test = array_field(root, "test_responses", file);
  check(test.dim() == 2 || test.dim() == 3, file,
        "'test_responses' has " + std::to_string(test.dim()) + " dimensions, expected (neurons, time, repeats) or (neurons, time)");
  const int64_t n = train.size(0);
  check(test.size(0) == n, file,
        "'test_responses' has " + std::to_string(test.size(0)) + " neurons, 'train_responses' has " + std::to_string(n));

  // Cells: cell_index keeps one, else excluded_cells[id] are dropped.
  if (o.cell_index >= 0) {
    check(o.cell_index < n, file, "cell_index " + std::to_string(o.cell_index) + " is beyond the " + std::to_string(n) + " cells");
    r.cell_indices = {o.cell_index};
  } else {
    std::set<int64_t> excluded;
    if (auto it = o.excluded_cells.find(id); it != o.excluded_cells.end())
      for (const int64_t c : it->second) {
        check(c >= 0 && c < n, "excluded_cells." + id,
              "cell " + std::to_string(c) + " is beyond the " + std::to_string(n) + " cells of " + file);
        excluded.insert(c);
      }
    for (int64_t c = 0; c < n; ++c)
      if (!excluded.count(c)) r.cell_indices.push_back(c);
    check(!r.cell_indices.empty(), "excluded_cells." + id, "excludes every cell of " + file);
  }
  const at::Tensor cells = at::tensor(r.cell_indices, at::kLong);
  train = train.index_select(0, cells);
  test = test.index_select(0, cells);

  // Trials of one stimulus seed.
  r.trials.resize(static_cast<size_t>(train.size(2)));
  std::iota(r.trials.begin(), r.trials.end(), 0);
  if (const io::PyRef seeds = root->get("seeds"); seeds && !seeds->is_none()) {
    const std::vector<int64_t> seed_list = int_list(seeds, file, "'seeds'");
    if (std::find(seed_list.begin(), seed_list.end(), o.stimulus_seed) != seed_list.end()) {
      const io::PyRef sep = root->get("trial_separation");
      check(sep && sep->is_dict(), file, "'trial_separation' is missing (needed for stimulus_seed " +
                                             std::to_string(o.stimulus_seed) + ", listed in 'seeds')");
      io::PyRef kept;
      for (const auto& [k, v] : sep->entries)
        if (k && k->kind == io::PyValue::Kind::Int && k->integer == o.stimulus_seed) kept = v;
      check(kept != nullptr, file, "'trial_separation' has no entry for seed " + std::to_string(o.stimulus_seed));
      r.trials = int_list(kept, file, "'trial_separation'[" + std::to_string(o.stimulus_seed) + "]");
      for (const int64_t t : r.trials) {
        check(t >= 0 && t < train.size(2), file,
              "'trial_separation' names trial " + std::to_string(t) + ", 'train_responses' has " +
                  std::to_string(train.size(2)));
        check(test.dim() == 2 || t < test.size(2), file,
              "'trial_separation' names trial " + std::to_string(t) + ", 'test_responses' has " +
                  std::to_string(test.size(2)) + " repeats");
      }
      const at::Tensor idx = at::tensor(r.trials, at::kLong);
      train = train.index_select(2, idx);
      if (test.dim() == 3) test = test.index_select(2, idx);
    } else if (id == "01" && test.dim() == 3) {
      test = test.narrow(2, 0, std::min<int64_t>(10, test.size(2)));  // the repeats of seed 2022
    }
  }
  check(train.size(2) >= 1 && train.size(1) >= 1, file, "'train_responses' has no trials or no frames");
  check_finite(train, file, "'train_responses'");
  check_finite(test, file, "'test_responses'");
  r.train = train.contiguous();
  if (test.dim() == 3) {
    r.test = test.mean(2).contiguous();
    r.test_by_trial = test.permute({2, 0, 1}).contiguous();
  } else {
    r.test = test.contiguous();
  }
  return r;
}

}  // namespace fovea::data
