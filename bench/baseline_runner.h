#pragma once
// What every benchmark program shares: best-of-n timing, running its PyTorch
// baseline script (which prints one JSON object of seconds), and the table of
// fovea's time, the baseline's time and the speed-up.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace fovea::bench {

template <typename F>
double best_of(int repeats, F&& f) {
  double best = 1e300;
  for (int i = 0; i < repeats; ++i) {
    auto t = std::chrono::steady_clock::now();
    f();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count());
  }
  return best;
}

// Runs `command` and parses the JSON object it prints last; false (with a
// message on stderr) when it fails.
inline bool run_baseline(const std::string& command, nlohmann::json& seconds) {
  std::string out;
  if (FILE* p = popen(command.c_str(), "r")) {
    char buf[4096];
    while (fgets(buf, sizeof buf, p)) out += buf;
    if (pclose(p) != 0) out.clear();
  }
  try {
    seconds = nlohmann::json::parse(out.substr(out.find('{')));
    return true;
  } catch (...) {
    std::cerr << "the PyTorch baseline failed (" << command << ")\n";
    return false;
  }
}

// One row per (name, fovea seconds, key of the baseline's seconds).
inline void print_table(const std::vector<std::pair<std::string, std::pair<double, std::string>>>& rows,
                        const nlohmann::json& baseline) {
  std::printf("%-34s %12s %12s %10s\n", "benchmark", "fovea (s)", "PyTorch (s)", "speed-up");
  for (const auto& [name, timing] : rows) {
    const double f = timing.first, p = baseline[timing.second].get<double>();
    std::printf("%-34s %12.3f %12.3f %9.2fx\n", name.c_str(), f, p, p / f);
  }
}

}  // namespace fovea::bench
