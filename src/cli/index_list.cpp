#include "cli/index_list.h"

#include <sstream>

#include "fovea/error.h"

namespace fovea::cli {

namespace {
int64_t parse_index(const std::string& s, const std::string& option, const std::string& text) {
  size_t used = 0;
  long long v = -1;
  try {
    v = std::stoll(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (s.empty() || used != s.size() || v < 0)
    fail(option, "'" + text + "' is not a list of indices (expected e.g. 3, 0,4,7 or 0-9)");
  return v;
}
}  // namespace

std::vector<int64_t> parse_index_list(const std::string& text, const std::string& option) {
  std::vector<int64_t> out;
  std::stringstream parts(text);
  std::string part;
  while (std::getline(parts, part, ',')) {
    const auto dash = part.find('-', 1);
    if (dash == std::string::npos) {
      out.push_back(parse_index(part, option, text));
      continue;
    }
    const int64_t lo = parse_index(part.substr(0, dash), option, text);
    const int64_t hi = parse_index(part.substr(dash + 1), option, text);
    if (hi < lo) fail(option, "range '" + part + "' runs backwards");
    for (int64_t i = lo; i <= hi; ++i) out.push_back(i);
  }
  if (out.empty()) fail(option, "no indices given");
  return out;
}

}  // namespace fovea::cli
