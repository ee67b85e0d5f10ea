#pragma once
// fovea's error types. Every failure caused by user input (a file, a field,
// an option) is an fovea::Error whose message names the file or option and
// what was expected; the command line prints it on one line and exits 1.
#include <stdexcept>
#include <string>

namespace fovea {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// "<where>: <problem>", e.g. "data/sp.npz: key 'sp' is missing".
[[noreturn]] inline void fail(const std::string& where, const std::string& problem) {
  throw Error(where + ": " + problem);
}

// Throws fovea::Error(where: problem) when the condition is false.
inline void check(bool condition, const std::string& where, const std::string& problem) {
  if (!condition) fail(where, problem);
}

}  // namespace fovea
