#pragma once
// The search space of a hyperparameter sweep (`fovea sweep --param ...`) and
// the trials drawn from it. Each axis sets one config key:
//   model.hidden_channels=[[8,8],[16,16]]   a list (YAML flow syntax, any value
//                                           type): a grid axis, or a categorical
//                                           choice in random search
//   model.core.gamma_input=loguniform(1e-5,1e-2)
//   training.lr=uniform(0.001,0.01)          random distributions; int(a,b)
//   training.batch_size=int(16,64)           draws an integer in [a, b]
// openretina searches with Optuna's TPE sampler; fovea offers grid search and
// seeded random search (the standard baseline TPE is measured against). A
// random trial's values depend only on (seed, trial index), so every worker on
// every machine computes the same trial list without talking to the others.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace fovea::train {

struct SearchAxis {
  enum class Kind { choice, uniform, loguniform, integer };
  std::string key;                // dotted config key, e.g. model.core.gamma_input
  std::string spec;               // the text after '=', as given (for sweep.json and messages)
  Kind kind = Kind::choice;
  nlohmann::json values;          // choice: the non-empty list of values
  double low = 0, high = 0;       // the distributions' bounds, inclusive
};

// Parses one "key=spec"; fovea::Error "--param '<text>': <problem>" on a
// missing '=', an empty or non-list value, an unknown distribution, bounds
// that are not two numbers with low < high (loguniform: 0 < low; int: integers
// with low <= high).
SearchAxis parse_search_axis(const std::string& text);

// The values of one trial, in the order of the axes: (key, value).
using TrialParams = std::vector<std::pair<std::string, nlohmann::json>>;

// Every combination of the axes' lists, the last axis varying fastest (as
// itertools.product); fovea::Error naming the axis when one is a distribution.
std::vector<TrialParams> grid_trials(const std::vector<SearchAxis>& axes);
// Trial `index` of a seeded random search: each axis drawn uniformly from its
// list or distribution by a generator seeded from (seed, index) alone.
TrialParams random_trial(const std::vector<SearchAxis>& axes, uint64_t seed, int64_t index);

// The trial's values as config overrides ("model.hidden_channels=[8,8]"), in
// the syntax `fovea train key=value` takes (JSON is YAML flow syntax).
std::vector<std::string> trial_overrides(const TrialParams& params);

}  // namespace fovea::train
