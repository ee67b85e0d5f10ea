#pragma once
// Progress of long work: a bar with rate and time left on a terminal, plain
// periodic lines when stderr is a log file.
#include <chrono>
#include <string>

namespace fovea::train {

class ProgressBar {
 public:
  ProgressBar(int64_t total, std::string label, bool enabled = true);
  ~ProgressBar();
  void update(int64_t done, const std::string& status = "");
  void finish(const std::string& status = "");

 private:
  int64_t total_;
  std::string label_;
  bool enabled_, tty_, finished_ = false, finishing_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

std::string format_duration(double seconds);

}  // namespace fovea::train
