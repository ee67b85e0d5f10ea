#pragma once
// What every benchmark program shares: best-of-n timing, running its PyTorch
// baseline script (which prints one JSON object of seconds), and the table of
// fovea's time, the baseline's time, the speed-up and optional further columns.
#include <chrono>
#include <cstdio>
#include <cstdlib>
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
inline bool run_script(const std::string& command, nlohmann::json& seconds) {
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

// tcmalloc from Debian's libtcmalloc-minimal4 (or the full libgoogle-perftools4), "" if neither is installed.
inline std::string tcmalloc_library() {
  for (const char* path : {"/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4",
                           "/usr/lib/x86_64-linux-gnu/libtcmalloc.so.4"})
    if (FILE* f = std::fopen(path, "rb")) {
      std::fclose(f);
      return path;
    }
  return "";
}

// The prefix under which a tuned baseline key is stored next to the shipped one.
inline const std::string kTuned = "tuned:";

// Runs the baseline as PyTorch is shipped and tuned as PyTorch's CPU
// performance-tuning guide says: tcmalloc preloaded (LD_PRELOAD), once as it
// is and once with the script's --channels-last (the channels-last memory
// format for the model and its inputs). The tuned time of each case is the
// faster of the two (channels-last slows some cases down, e.g. V1 MEIs at
// batch 1, and a tuned user would not use it there); "<key>_config" says
// which. `seconds` gets the shipped run's keys and the tuned ones prefixed
// with kTuned. The shipped run drops an LD_PRELOAD that fovea's own side may
// run under. False when a run fails.
// The shipped run comes last, so files the script writes (bench_mei's final
// stimuli) are the shipped run's.
// FOVEA_BENCH_BASELINE=0 skips the baselines (their cells print "-"), to
// compare fovea's own settings quickly.
inline bool run_baseline(const std::string& command, nlohmann::json& seconds) {
  if (const char* skip = std::getenv("FOVEA_BENCH_BASELINE"); skip && std::string(skip) == "0") return true;
  const std::string tcmalloc = tcmalloc_library();
  if (tcmalloc.empty()) {
    std::cerr << "tcmalloc is not installed (libtcmalloc-minimal4): the tuned PyTorch baseline cannot run\n";
    return false;
  }
  nlohmann::json plain, channels_last;
  if (!run_script("env LD_PRELOAD=" + tcmalloc + " " + command, plain)) return false;
  if (!run_script("env LD_PRELOAD=" + tcmalloc + " " + command + " --channels-last", channels_last)) return false;
  if (!run_script("env -u LD_PRELOAD " + command, seconds)) return false;
  // A case's key, not one of the values reported about a case ("<case>_mb", "<case>_objective", ...).
  auto is_case = [&](const std::string& key) {
    for (const auto& [other, v] : plain.items())
      if (other != key && key.rfind(other + "_", 0) == 0) return false;
    return true;
  };
  for (const auto& [key, value] : plain.items()) {
    if (!value.is_number() || !is_case(key)) continue;
    const bool use_cl = channels_last.contains(key) && channels_last[key].get<double>() < value.get<double>();
    const nlohmann::json& chosen = use_cl ? channels_last : plain;
    // The case's time and everything the script reported about it (peak MB, objective, ...).
    for (const auto& [k, v] : chosen.items())
      if (k == key || k.rfind(key + "_", 0) == 0) seconds[kTuned + k] = v;
    seconds[kTuned + key + "_config"] = use_cl ? "tcmalloc + channels-last" : "tcmalloc";
  }
  return true;
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

// A Markdown table: seconds of fovea and of both baselines (shipped and
// tuned, when the tuned run's keys are there), the speed-ups (baseline /
// fovea; the tuned one is the ratio that counts), peak memory and GFLOP/s
// (with its share of the SGEMM peak and of the FMA peak, where given:
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
  auto value = [&](const std::string& key) { return baseline.contains(key) ? baseline[key].get<double>() : 0.0; };
  auto cell = [&](const char* format, double v) { return v > 0 ? number(format, v) : std::string("-"); };
  std::printf("| benchmark | fovea (s) | PyTorch (s) | PyTorch tuned (s) | speed-up | speed-up vs tuned | fovea MB | "
              "PyTorch MB | tuned MB | fovea GFLOP/s | PyTorch GFLOP/s | tuned GFLOP/s |");
  for (const auto& h : extra_headers) std::printf(" %s |", h.c_str());
  std::printf("\n|---|---|---|---|---|---|---|---|---|---|---|---|");
  for (size_t i = 0; i < extra_headers.size(); ++i) std::printf("---|");
  std::printf("\n");
  for (const auto& row : rows) {
    const double f = row.fovea_seconds, p = value(row.baseline_key), t = value(kTuned + row.baseline_key);
    std::printf("| %s | %.3f | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |", row.name.c_str(), f,
                cell("%.3f", p).c_str(), cell("%.3f", t).c_str(), cell("%.2fx", p / f).c_str(),
                cell("%.2fx", t / f).c_str(), cell("%.0f", row.fovea_mb).c_str(),
                cell("%.0f", value(row.baseline_key + "_mb")).c_str(),
                cell("%.0f", value(kTuned + row.baseline_key + "_mb")).c_str(), rate(row.fovea_flop, f).c_str(),
                p > 0 ? rate(row.baseline_flop, p).c_str() : "-", t > 0 ? rate(row.baseline_flop, t).c_str() : "-");
    for (const auto& c : row.extra) std::printf(" %s |", c.c_str());
    std::printf("\n");
  }
  std::printf("PyTorch tuned: %s preloaded, with or without the channels-last memory format, whichever is faster:",
              tcmalloc_library().c_str());
  for (const auto& row : rows) {
    const std::string config = kTuned + row.baseline_key + "_config";
    if (baseline.contains(config)) std::printf(" %s: %s;", row.name.c_str(), baseline[config].get<std::string>().c_str());
  }
  std::printf("\n");
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
