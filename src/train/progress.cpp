#include "fovea/train/progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <iostream>

namespace fovea::train {

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "--:--";
  char buf[32];
  int total = static_cast<int>(s + 0.5);
  if (total >= 3600)
    std::snprintf(buf, sizeof buf, "%d:%02d:%02d", total / 3600, (total / 60) % 60, total % 60);
  else
    std::snprintf(buf, sizeof buf, "%02d:%02d", total / 60, total % 60);
  return buf;
}

ProgressBar::ProgressBar(int64_t total, std::string label, bool enabled)
    : total_(std::max<int64_t>(total, 1)),
      label_(std::move(label)),
      enabled_(enabled),
      tty_(isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

ProgressBar::~ProgressBar() {
  if (enabled_ && tty_ && !finished_) std::cerr << "\n";
}

void ProgressBar::update(int64_t done, const std::string& status) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double since_draw = std::chrono::duration<double>(now - last_draw_).count();
  // A terminal is redrawn at most 10 times a second; a log gets a line every 30 s.
  if (done < total_ && since_draw < (tty_ ? 0.1 : 30.0)) return;
  // In a log, only the final state of the bar is worth a line.
  if (!tty_ && done >= total_ && !finishing_) return;
  last_draw_ = now;
  const double rate = elapsed > 0 ? done / elapsed : 0.0;
  const double left = rate > 0 ? (total_ - done) / rate : NAN;
  char line[256];
  if (tty_) {
    const int width = 24;
    const int filled = static_cast<int>(width * done / total_);
    std::string bar(filled, '#');
    bar.resize(width, '.');
    std::snprintf(line, sizeof line, "\r%s [%s] %lld/%lld %.1f/s %s<%s %s\033[K", label_.c_str(), bar.c_str(),
                  static_cast<long long>(done), static_cast<long long>(total_), rate, format_duration(elapsed).c_str(),
                  format_duration(left).c_str(), status.c_str());
  } else {
    std::snprintf(line, sizeof line, "%s %lld/%lld %.1f/s elapsed %s left %s %s\n", label_.c_str(),
                  static_cast<long long>(done), static_cast<long long>(total_), rate,
                  format_duration(elapsed).c_str(), format_duration(left).c_str(), status.c_str());
  }
  std::cerr << line << std::flush;
}

void ProgressBar::finish(const std::string& status) {
  if (!enabled_ || finished_) return;
  last_draw_ = start_;  // force a final draw
  finishing_ = true;
  update(total_, status);
  if (tty_) std::cerr << "\n";
  finished_ = true;
}

}  // namespace fovea::train
