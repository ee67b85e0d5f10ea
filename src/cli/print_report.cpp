#include "cli/print_report.h"

#include <iostream>

namespace fovea::cli {

void print_retina_summary(const eval::EvaluationReport& report) {
  const auto& m = report.summary["mean"];
  std::cout << "neurons: " << report.summary["n_neurons"] << " in " << report.summary["n_sessions"]
            << " sessions, included (" << report.summary["criterion"].get<std::string>() << " >= "
            << report.summary["threshold"] << "): " << report.summary["n_included"] << "\n";
  for (const auto& c : report.columns) std::cout << "  " << c << ": " << m[c] << "\n";
}

void print_v1_summary(const eval::EvaluationReport& report, double fev_threshold) {
  const auto& m = report.summary["mean"];
  std::cout << "neurons: " << report.summary["n_neurons"] << ", included (FEV > " << fev_threshold
            << "): " << report.summary["n_included"] << "\n";
  for (const auto& c : report.columns) std::cout << "  " << c << ": " << m[c] << "\n";
}

}  // namespace fovea::cli
