// Per-neuron evaluation of retina models on their test movies.
#include "fovea/eval/retina_report.h"

#include <torch/torch.h>

#include <algorithm>

#include "fovea/error.h"
#include "fovea/eval/metrics.h"

namespace fovea::eval {

std::pair<at::Tensor, int64_t> predict_test_movie(nn::Model& model, const at::Tensor& movie, const std::string& session,
                                                  const std::string& device) {
  torch::NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  at::Tensor out = model.forward(movie.unsqueeze(0).to(torch::Device(device), torch::kFloat32), session)
                       .to(torch::kCPU)
                       .squeeze(0);
  model.train(was_training);
  const int64_t lag = movie.size(1) - out.size(0);
  check(lag >= 0, "evaluation", "the model predicts more frames than the movie has");
  return {out, lag};
}

namespace {

std::string pick_test_name(const data::SessionClips& s, const std::string& wanted, const std::string& session) {
  check(!s.test_movies.empty(), session, "the session has no test stimulus");
  if (!wanted.empty()) {
    check(s.test_movies.count(wanted) > 0, session, "has no test stimulus '" + wanted + "'");
    return wanted;
  }
  check(s.test_movies.size() == 1, session, "has several test stimuli: choose one");
  return s.test_movies.begin()->first;
}

}  // namespace

EvaluationReport evaluate_retina(nn::Model& model, const std::map<std::string, data::SessionClips>& sessions,
                                 const RetinaEvalOptions& options, const std::map<std::string, at::Tensor>& truth) {
  check(!sessions.empty(), "evaluation", "there are no sessions");
  const auto model_sessions = model.readout_keys();
  std::vector<EvaluationReport> parts;
  std::vector<std::string> row_session, unrepeated;
  std::vector<int64_t> row_neuron;
  nlohmann::json trials_per_session = nlohmann::json::object();
  int64_t frames = 0, fewest_repeats = -1;
  for (const auto& [key, s] : sessions) {
    check(std::find(model_sessions.begin(), model_sessions.end(), key) != model_sessions.end(), key,
          "the model has no readout for this session");
    const std::string name = pick_test_name(s, options.test_name, key);
    auto [pred, lag] = predict_test_movie(model, s.test_movies.at(name), key, options.device);
    const int64_t n = model.readout()->n_neurons(key);
    check(s.test_responses.at(name).size(1) == n, key,
          "the data has " + std::to_string(s.test_responses.at(name).size(1)) + " neurons, the model's readout " +
              std::to_string(n));
    // (frames, repeats, neurons) after the lag; a session without its trials
    // counts as one repeat (the average), as openretina's eval does.
    at::Tensor responses;
    if (s.test_by_trial.count(name))
      responses = s.test_by_trial.at(name).slice(1, lag).permute({1, 0, 2});
    else
      responses = s.test_responses.at(name).slice(0, lag).unsqueeze(1);
    at::Tensor t;
    if (truth.count(key)) t = truth.at(key).t().slice(0, lag);
    parts.push_back(evaluate_predictions(responses, pred, options.var_ratio_cutoff, "var_ratio", t));
    if (responses.size(1) < kMinRepeatsForNoiseCeiling) unrepeated.push_back(key);
    frames = responses.size(0);
    fewest_repeats = fewest_repeats < 0 ? responses.size(1) : std::min(fewest_repeats, responses.size(1));
    trials_per_session[key] = responses.size(1);
    for (int64_t i = 0; i < n; ++i) {
      row_session.push_back(key);
      row_neuron.push_back(i);
    }
  }
  const bool none_repeated = unrepeated.size() == sessions.size();
  EvaluationReport r;
  r.columns = parts.front().columns;
  std::vector<at::Tensor> tables, included, missing;
  for (auto& p : parts) {
    check(p.columns == r.columns, "evaluation", "sessions differ in the measures they allow (truth for some only?)");
    tables.push_back(p.table);
    // openretina's filter: with var_ratio in some sessions, the neurons of the
    // sessions without one are left out; with var_ratio in none, all count.
    if (p.missing.defined() && !none_repeated) p.included.fill_(false);
    included.push_back(p.included);
    missing.push_back(p.missing.defined() ? p.missing : torch::zeros(p.table.sizes(), torch::kBool));
  }
  r.table = torch::cat(tables, 0);
  r.included = torch::cat(included, 0);
  if (!unrepeated.empty()) r.missing = torch::cat(missing, 0);
  r.row_session = row_session;
  r.row_neuron = row_neuron;
  const int64_t n_in = r.included.sum().item<int64_t>();
  r.summary = {{"n_neurons", r.table.size(0)},
               {"n_included", n_in},
               {"n_sessions", sessions.size()},
               {"criterion", none_repeated ? kAllNeuronsCriterion : "var_ratio"},
               {"threshold", options.var_ratio_cutoff},
               {"n_frames", frames},
               {"n_repeats", fewest_repeats},
               {"n_trials_per_session", trials_per_session}};
  if (none_repeated) {
    r.summary["note"] = noise_ceiling_note(fewest_repeats);
  } else if (!unrepeated.empty()) {
    std::string names;
    for (const auto& k : unrepeated) names += (names.empty() ? "" : ", ") + k;
    r.summary["note"] = "FEV, FEVE and oracle need ≥ " + std::to_string(kMinRepeatsForNoiseCeiling) +
                        " repeats of the test stimulus; session(s) " + names +
                        " have 1: their cells are empty and their neurons are not in the summary";
  }
  add_column_summaries(r);
  return r;
}

}  // namespace fovea::eval
