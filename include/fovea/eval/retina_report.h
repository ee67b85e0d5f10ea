#pragma once
// Evaluating a retina model on its sessions' test movies, as openretina's
// `eval` does: each session's test movie runs in one pass, the first `lag`
// frames (lag = input frames − output frames) are dropped from the responses,
// and per neuron: correlation to the trial average, FEVE, jackknife oracle,
// explainable/total variance ratio (neurons with ratio >= 0.15 are included
// in the summary) and per-trial correlation.
#include <map>
#include <string>

#include "fovea/data/movie_clips.h"
#include "fovea/eval/report.h"
#include "fovea/nn/model.h"

namespace fovea::eval {

struct RetinaEvalOptions {
  std::string test_name;        // which test stimulus ("" : the only one)
  double var_ratio_cutoff = 0.15;
  std::string device = "cpu";
};

// The model's predictions for one session's test movie (T_out, N) and the lag.
std::pair<at::Tensor, int64_t> predict_test_movie(nn::Model& model, const at::Tensor& movie, const std::string& session,
                                                  const std::string& device = "cpu");

// One report over the neurons of all sessions (rows in session order, then
// neuron order; EvaluationReport::row_session / row_neuron say which). With
// repeated trials every measure is computed; a session with one trial (or
// only the trial average) leaves FEV, FEVE, var_ratio and the oracle empty
// (EvaluationReport::missing) and is left out of the summary when other
// sessions have repeats (all neurons count when none has); summary["note"]
// says which. `truth` (session -> (N, T_test)), where given,
// adds the correlation to the noise-free responses.
EvaluationReport evaluate_retina(nn::Model& model, const std::map<std::string, data::SessionClips>& sessions,
                                 const RetinaEvalOptions& options,
                                 const std::map<std::string, at::Tensor>& truth = {});

}  // namespace fovea::eval
