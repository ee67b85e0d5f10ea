#include "fovea/train/sweep_space.h"

#include <algorithm>
#include <cmath>
#include <regex>

#include "fovea/error.h"
#include "fovea/io/yaml.h"

namespace fovea::train {

using Json = nlohmann::json;

namespace {

const char* const kSyntax = "expected key=[a,b,...] or key=uniform(a,b) | loguniform(a,b) | int(a,b)";

// SplitMix64 (Steele, Lea, Flood 2014): a fixed, portable sequence, where the
// standard library's distributions may differ between implementations.
uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// Uniform in [0, 1) from the top 53 bits.
double unit(uint64_t& state) { return static_cast<double>(splitmix64(state) >> 11) * 0x1.0p-53; }

void parse_bounds(SearchAxis& axis, const std::string& args, const std::string& where) {
  const Json b = io::parse_yaml("[" + args + "]", where);
  if (!b.is_array() || b.size() != 2 || !b[0].is_number() || !b[1].is_number())
    fail(where, "a distribution takes two numbers, low and high, e.g. uniform(0.001,0.1)");
  axis.low = b[0].get<double>();
  axis.high = b[1].get<double>();
  if (!std::isfinite(axis.low) || !std::isfinite(axis.high)) fail(where, "the bounds must be finite");
  if (axis.kind == SearchAxis::Kind::integer) {
    if (!b[0].is_number_integer() || !b[1].is_number_integer()) fail(where, "int(a,b) takes two integers");
    if (axis.low > axis.high) fail(where, "int(a,b) needs a <= b");
    return;
  }
  if (!(axis.low < axis.high)) fail(where, "needs low < high");
  if (axis.kind == SearchAxis::Kind::loguniform && axis.low <= 0)
    fail(where, "loguniform(a,b) needs 0 < a (it draws log-uniformly)");
}

}  // namespace

SearchAxis parse_search_axis(const std::string& text) {
  const std::string where = "--param '" + text + "'";
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0) fail(where, kSyntax);
  SearchAxis axis;
  axis.key = text.substr(0, eq);
  axis.spec = text.substr(eq + 1);
  if (axis.key.front() == '.' || axis.key.back() == '.' || axis.key.find("..") != std::string::npos)
    fail(where, "empty key component in '" + axis.key + "'");
  static const std::regex distribution(R"(^\s*([A-Za-z_]\w*)\s*\((.*)\)\s*$)");
  std::smatch m;
  if (std::regex_match(axis.spec, m, distribution)) {
    const std::string name = m[1];
    if (name == "uniform") axis.kind = SearchAxis::Kind::uniform;
    else if (name == "loguniform") axis.kind = SearchAxis::Kind::loguniform;
    else if (name == "int") axis.kind = SearchAxis::Kind::integer;
    else fail(where, "unknown distribution '" + name + "' (known: uniform, loguniform, int)");
    parse_bounds(axis, m[2], where);
    return axis;
  }
  axis.values = io::parse_yaml(axis.spec, where);
  if (!axis.values.is_array()) fail(where, std::string("not a list or a distribution: ") + kSyntax);
  if (axis.values.empty()) fail(where, "the list of values is empty");
  return axis;
}

std::vector<TrialParams> grid_trials(const std::vector<SearchAxis>& axes) {
  for (const auto& a : axes)
    if (a.kind != SearchAxis::Kind::choice)
      fail("--param '" + a.key + "=" + a.spec + "'",
           "grid search needs a list of values on every axis; a distribution needs --search random");
  std::vector<TrialParams> trials;
  if (axes.empty()) return trials;
  std::vector<size_t> at(axes.size(), 0);
  while (true) {
    TrialParams t;
    for (size_t i = 0; i < axes.size(); ++i) t.emplace_back(axes[i].key, axes[i].values[at[i]]);
    trials.push_back(std::move(t));
    size_t i = axes.size();
    while (i > 0 && ++at[i - 1] == axes[i - 1].values.size()) at[--i] = 0;
    if (i == 0) return trials;
  }
}

TrialParams random_trial(const std::vector<SearchAxis>& axes, uint64_t seed, int64_t index) {
  uint64_t state = seed;
  state = splitmix64(state) ^ (static_cast<uint64_t>(index) * 0xD1B54A32D192ED03ULL);
  TrialParams t;
  for (const auto& a : axes) {
    const double u = unit(state);
    switch (a.kind) {
      case SearchAxis::Kind::choice: {
        const auto n = a.values.size();
        t.emplace_back(a.key, a.values[std::min(n - 1, static_cast<size_t>(u * static_cast<double>(n)))]);
        break;
      }
      case SearchAxis::Kind::uniform:
        t.emplace_back(a.key, std::clamp(a.low + u * (a.high - a.low), a.low, a.high));
        break;
      case SearchAxis::Kind::loguniform:  // as Optuna's FloatDistribution(log=True): exp(U(log a, log b))
        t.emplace_back(a.key, std::clamp(std::exp(std::log(a.low) + u * (std::log(a.high) - std::log(a.low))),
                                         a.low, a.high));
        break;
      case SearchAxis::Kind::integer: {
        const auto lo = static_cast<int64_t>(a.low), hi = static_cast<int64_t>(a.high);
        const auto span = static_cast<double>(hi - lo + 1);
        t.emplace_back(a.key, std::min(hi, lo + static_cast<int64_t>(u * span)));
        break;
      }
    }
  }
  return t;
}

std::vector<std::string> trial_overrides(const TrialParams& params) {
  std::vector<std::string> o;
  for (const auto& [key, value] : params) o.push_back(key + "=" + value.dump());
  return o;
}

}  // namespace fovea::train
