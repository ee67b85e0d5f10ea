#include "cli/print_report.h"

#include <iostream>

namespace fovea::cli {

namespace {
// The means of the columns these data allow (null: not computable), then the note on those they do not.
void print_means(const eval::EvaluationReport& report) {
  const auto& m = report.summary["mean"];
  for (const auto& c : report.columns)
    if (!m[c].is_null()) std::cout << "  " << c << ": " << m[c] << "\n";
  if (report.summary.contains("note")) std::cout << "note: " << report.summary["note"].get<std::string>() << "\n";
}

bool all_included(const eval::EvaluationReport& report) {
  return report.summary.value("criterion", "") == eval::kAllNeuronsCriterion;
}
}  // namespace

void print_retina_summary(const eval::EvaluationReport& report) {
  std::cout << "neurons: " << report.summary["n_neurons"] << " in " << report.summary["n_sessions"] << " sessions, ";
  if (all_included(report))
    std::cout << "all included (no repeated trials)\n";
  else
    std::cout << "included (" << report.summary["criterion"].get<std::string>() << " >= "
              << report.summary["threshold"] << "): " << report.summary["n_included"] << "\n";
  print_means(report);
}

void print_v1_summary(const eval::EvaluationReport& report, double fev_threshold) {
  std::cout << "neurons: " << report.summary["n_neurons"];
  // A model of some of the recording's neurons (a minimodel: one) names them.
  if (report.summary.contains("neurons")) std::cout << " (the data's neurons " << report.summary["neurons"].dump() << ")";
  if (all_included(report))
    std::cout << ", all included (no repeated trials)\n";
  else
    std::cout << ", included (FEV > " << fev_threshold << "): " << report.summary["n_included"] << "\n";
  print_means(report);
}

}  // namespace fovea::cli
