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
// and optionally: fovea's peak MB (the baseline's is under key + "_mb"), the
// floating-point operations each side's algorithm performs for the work (for
// GFLOP/s), and the row's cells (already formatted) for the extra columns.
struct Row {
  std::string name;
  double fovea_seconds;
  std::string baseline_key;
  std::vector<std::string> extra;
  double fovea_mb = 0;
  double fovea_flop = 0, baseline_flop = 0;
};

// A Markdown table: seconds, the speed-up (baseline / fovea), peak memory and
// GFLOP/s (with its share of the SGEMM peak and of the FMA peak, where given:
// measure.h) where known, then one column per extra header.
inline void print_table(const std::vector<Row>& rows, const nlohmann::json& baseline,
                        const std::vector<std::string>& extra_headers, double sgemm_gflops = 0,
                        double fma_gflops = 0) {
  auto number = [](const char* format, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, format, v);
    return std::string(buf);
  };
  auto rate = [&](double flop, double seconds) {
    if (flop <= 0) return std::string("-");
    const double g = flop / seconds / 1e9;
    std::string shares;
    for (double peak : {sgemm_gflops, fma_gflops})
      if (peak > 0) shares += (shares.empty() ? "" : ", ") + number("%.0f", 100 * g / peak) + "%";
    return number("%.1f", g) + (shares.empty() ? "" : " (" + shares + ")");
  };
  std::printf("| benchmark | fovea (s) | PyTorch (s) | speed-up | fovea MB | PyTorch MB | fovea GFLOP/s | PyTorch GFLOP/s |");
  for (const auto& h : extra_headers) std::printf(" %s |", h.c_str());
  std::printf("\n|---|---|---|---|---|---|---|---|");
  for (size_t i = 0; i < extra_headers.size(); ++i) std::printf("---|");
  std::printf("\n");
  for (const auto& row : rows) {
    const double f = row.fovea_seconds, p = baseline[row.baseline_key].get<double>();
    const std::string mb_key = row.baseline_key + "_mb";
    const std::string f_mb = row.fovea_mb > 0 ? number("%.0f", row.fovea_mb) : "-";
    const std::string p_mb = baseline.contains(mb_key) ? number("%.0f", baseline[mb_key].get<double>()) : "-";
    std::printf("| %s | %.3f | %.3f | %.2fx | %s | %s | %s | %s |", row.name.c_str(), f, p, p / f, f_mb.c_str(),
                p_mb.c_str(), rate(row.fovea_flop, f).c_str(), rate(row.baseline_flop, p).c_str());
    for (const auto& cell : row.extra) std::printf(" %s |", cell.c_str());
    std::printf("\n");
  }
  if (sgemm_gflops > 0)
    std::printf("GFLOP/s (%% of the SGEMM peak%s). SGEMM peak (2048^3, OpenBLAS via LibTorch, same threads): %.1f GFLOP/s\n",
                fma_gflops > 0 ? ", % of the FMA peak" : "", sgemm_gflops);
  if (fma_gflops > 0)
    std::printf("FMA peak (independent fused multiply-adds on registers, widest vectors, same threads): %.1f GFLOP/s\n",
                fma_gflops);
}

// One row per (name, fovea seconds, key of the baseline's seconds).
inline void print_table(const std::vector<std::pair<std::string, std::pair<double, std::string>>>& rows,
                        const nlohmann::json& baseline) {
  std::vector<Row> plain;
  for (const auto& [name, timing] : rows) plain.push_back({name, timing.first, timing.second, {}});
  print_table(plain, baseline, {});
}

}  // namespace fovea::bench
