#pragma once
// What every benchmark program shares: best-of-n timing, running its PyTorch
// baseline script (which prints one JSON object of seconds), and the table of
// fovea's time, the baseline's time, the speed-up and optional further columns.
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

// A table row: its name, fovea's seconds, the key of the baseline's seconds,
// and the row's cells (already formatted) for the table's extra columns.
struct Row {
  std::string name;
  double fovea_seconds;
  std::string baseline_key;
  std::vector<std::string> extra;
};

// Seconds, the speed-up (baseline / fovea), then one column per extra header.
inline void print_table(const std::vector<Row>& rows, const nlohmann::json& baseline,
                        const std::vector<std::string>& extra_headers) {
  std::printf("%-34s %12s %12s %10s", "benchmark", "fovea (s)", "PyTorch (s)", "speed-up");
  for (const auto& h : extra_headers) std::printf(" %12s", h.c_str());
  std::printf("\n");
  for (const auto& row : rows) {
    const double f = row.fovea_seconds, p = baseline[row.baseline_key].get<double>();
    std::printf("%-34s %12.3f %12.3f %9.2fx", row.name.c_str(), f, p, p / f);
    for (const auto& cell : row.extra) std::printf(" %12s", cell.c_str());
    std::printf("\n");
  }
}

// One row per (name, fovea seconds, key of the baseline's seconds).
inline void print_table(const std::vector<std::pair<std::string, std::pair<double, std::string>>>& rows,
                        const nlohmann::json& baseline) {
  std::vector<Row> plain;
  for (const auto& [name, timing] : rows) plain.push_back({name, timing.first, timing.second, {}});
  print_table(plain, baseline, {});
}

}  // namespace fovea::bench
