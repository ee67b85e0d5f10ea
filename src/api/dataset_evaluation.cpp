#include "dataset_evaluation.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <filesystem>
#include <optional>

#include "fovea/error.h"
#include "fovea/eval/metrics.h"
#include "fovea/eval/retina_data_check.h"
#include "fovea/eval/retina_report.h"
#include "fovea/io/npy.h"
#include "fovea/train/retina_experiment.h"

namespace fovea::api {

namespace fs = std::filesystem;

std::map<std::string, at::Tensor> read_retina_ground_truth(const std::string& dir,
                                                           const std::vector<std::string>& sessions) {
  std::map<std::string, at::Tensor> truth;
  for (const auto& s : sessions) {
    const fs::path p = fs::path(dir) / "ground_truth" / (s + ".npy");
    if (!fs::exists(p)) return {};
    truth[s] = io::read_npy(p.string()).to(torch::kFloat32);
  }
  return truth;
}

void FrameCounter::add(const at::Tensor& movie, int64_t clip_length) {
  check(movie.dim() == 4, "dataset statistics", "a movie must be (channels, frames, height, width)");
  const int64_t T = movie.size(1), H = movie.size(2), W = movie.size(3);
  const at::Tensor frames = movie.to(torch::kFloat32).permute({1, 0, 2, 3}).contiguous();  // (T, C, H, W)
  const at::Tensor flat = frames.reshape({T, -1});
  const at::Tensor stats =
      torch::stack({flat.mean(1), flat.std(1), flat.select(1, 0), flat.select(1, flat.size(1) - 1),
                    frames.select(1, 0).select(1, H / 2).select(1, W / 3)},
                   1)
          .contiguous();
  const float* v = stats.data_ptr<float>();
  std::array<float, 5> previous{};
  for (int64_t t = 0; t < T; ++t) {
    std::array<float, 5> fp;
    std::copy(v + 5 * t, v + 5 * t + 5, fp.begin());
    frames_.insert(fp);
    if (t > 0 && (clip_length <= 0 || t % clip_length != 0)) {
      std::array<float, 10> pair;
      std::copy(previous.begin(), previous.end(), pair.begin());
      std::copy(fp.begin(), fp.end(), pair.begin() + 5);
      transitions_.insert(pair);
    }
    previous = fp;
  }
}

void FrameCounter::merge(const FrameCounter& other) {
  frames_.insert(other.frames_.begin(), other.frames_.end());
  transitions_.insert(other.transitions_.begin(), other.transitions_.end());
}

namespace {

// One session's responses (frames, trials, neurons) and the model's
// predictions (frames, neurons) for one split.
struct SplitPart {
  at::Tensor responses, predictions;
  int64_t lag = 0;
};

// A movie run clip by clip, as openretina's validation loader gives whole
// clips: each clip's first `lag` frames have no prediction. An incomplete
// last clip is left out (as a loader that drops its last chunk).
SplitPart predict_clips(nn::Model& model, const at::Tensor& movie, const at::Tensor& responses, int64_t clip_length,
                        const std::string& session, const std::string& device) {
  std::vector<at::Tensor> preds, resps;
  int64_t lag = 0;
  for (int64_t start = 0; start + clip_length <= movie.size(1); start += clip_length) {
    auto [pred, clip_lag] = eval::predict_test_movie(model, movie.slice(1, start, start + clip_length), session, device);
    lag = clip_lag;
    preds.push_back(pred);
    resps.push_back(responses.slice(0, start + lag, start + clip_length));
  }
  check(!preds.empty(), session,
        "the split has " + std::to_string(movie.size(1)) + " frames, fewer than one clip of " +
            std::to_string(clip_length));
  return {torch::cat(resps, 0).unsqueeze(1), torch::cat(preds, 0), lag};
}

SplitPart predict_test(nn::Model& model, const data::SessionClips& s, const std::string& name,
                       const std::string& session, const std::string& device) {
  auto [pred, lag] = eval::predict_test_movie(model, s.test_movies.at(name), session, device);
  at::Tensor responses;
  if (s.test_by_trial.count(name))
    responses = s.test_by_trial.at(name).slice(1, lag).permute({1, 0, 2});
  else
    responses = s.test_responses.at(name).slice(0, lag).unsqueeze(1);
  return {responses, pred, lag};
}

// Train and validation data have one trial per frame: FEV, FEVE and the
// oracle are empty and every neuron is included, as evaluate_retina does for
// test data without repeats.
eval::EvaluationReport single_trial_report(nn::Model& model, const std::map<std::string, SplitPart>& parts,
                                           double cutoff) {
  eval::EvaluationReport r;
  std::vector<at::Tensor> tables, included, missing;
  nlohmann::json frames = nlohmann::json::object(), trials = nlohmann::json::object();
  for (const auto& [key, p] : parts) {
    const int64_t n = model.readout()->n_neurons(key);
    check(p.responses.size(2) == n, key,
          "the data has " + std::to_string(p.responses.size(2)) + " neurons, the model's readout " + std::to_string(n));
    auto part = eval::evaluate_predictions(p.responses, p.predictions, cutoff, "var_ratio");
    if (r.columns.empty()) r.columns = part.columns;
    tables.push_back(part.table);
    included.push_back(part.included);
    missing.push_back(part.missing.defined() ? part.missing : torch::zeros(part.table.sizes(), torch::kBool));
    for (int64_t i = 0; i < n; ++i) {
      r.row_session.push_back(key);
      r.row_neuron.push_back(i);
    }
    frames[key] = p.responses.size(0);
    trials[key] = p.responses.size(1);
  }
  r.table = torch::cat(tables, 0);
  r.included = torch::cat(included, 0);
  r.missing = torch::cat(missing, 0);
  r.summary = {{"n_neurons", r.table.size(0)},
               {"n_included", r.included.sum().item<int64_t>()},
               {"n_sessions", parts.size()},
               {"criterion", eval::kAllNeuronsCriterion},
               {"threshold", cutoff},
               {"n_frames_per_session", frames},
               {"n_repeats", 1},
               {"n_trials_per_session", trials},
               {"note", eval::noise_ceiling_note(1)}};
  eval::add_column_summaries(r);
  return r;
}

// openretina's per-trial columns: corr_<i> and mse_<i> between trial i and
// the prediction; cells of sessions with fewer trials are empty.
void add_per_trial_columns(eval::EvaluationReport& r, const std::map<std::string, SplitPart>& parts) {
  int64_t most = 0;
  for (const auto& [k, p] : parts) most = std::max(most, p.responses.size(1));
  const int64_t rows = r.table.size(0);
  at::Tensor extra = torch::full({rows, 2 * most}, std::nan(""), torch::kFloat64);
  at::Tensor gaps = torch::ones({rows, 2 * most}, torch::kBool);
  int64_t row = 0;
  for (const auto& [k, p] : parts) {
    const int64_t n = p.responses.size(2);
    for (int64_t i = 0; i < p.responses.size(1); ++i) {
      const at::Tensor trial = p.responses.select(1, i);
      extra.slice(0, row, row + n).select(1, 2 * i).copy_(eval::correlation(trial, p.predictions));
      extra.slice(0, row, row + n).select(1, 2 * i + 1).copy_(eval::mse_to_average(trial.unsqueeze(1), p.predictions));
      gaps.slice(0, row, row + n).slice(1, 2 * i, 2 * i + 2).fill_(false);
    }
    row += n;
  }
  check(row == rows, "evaluation", "the per-trial columns do not match the report's rows");
  for (int64_t i = 0; i < most; ++i) {
    r.columns.push_back("corr_" + std::to_string(i));
    r.columns.push_back("mse_" + std::to_string(i));
  }
  at::Tensor old_missing = r.missing.defined() ? r.missing : torch::zeros(r.table.sizes(), torch::kBool);
  r.table = torch::cat({r.table, extra}, 1);
  const at::Tensor all_missing = torch::cat({old_missing, gaps}, 1);
  r.missing = all_missing.any().item<bool>() ? all_missing : at::Tensor();
}

// numpy.nanmean over the included rows of a column (NaN when none is finite).
double nanmean(const eval::EvaluationReport& r, const std::string& column) {
  at::Tensor v = r.column(column).masked_select(r.included);
  v = v.masked_select(torch::isfinite(v));
  return v.numel() ? v.mean().item<double>() : std::nan("");
}

// openretina's EvaluationSummary.from_dataframe (utils/eval_utils.py).
void add_openretina_summary(eval::EvaluationReport& r, const std::string& data_split,
                            const std::map<std::string, SplitPart>& parts, double cutoff) {
  std::vector<int64_t> trials;
  int64_t lag = -1;
  for (const auto& [k, p] : parts) {
    trials.push_back(p.responses.size(1));
    check(lag < 0 || lag == p.lag, k, "inconsistent lag between sessions");
    lag = p.lag;
  }
  const bool filtering = r.summary.value("criterion", std::string()) == "var_ratio";
  std::vector<double> corr_by_trial, mse_by_trial;
  for (int64_t i = 0;; ++i) {
    const std::string c = "corr_" + std::to_string(i);
    if (std::find(r.columns.begin(), r.columns.end(), c) == r.columns.end()) break;
    corr_by_trial.push_back(nanmean(r, c));
    mse_by_trial.push_back(nanmean(r, "mse_" + std::to_string(i)));
  }
  // numpy.nanmean / nanstd (ddof 0) over the per-trial means.
  const auto mean_std = [](const std::vector<double>& v) {
    double sum = 0, sq = 0;
    int64_t n = 0;
    for (double x : v)
      if (std::isfinite(x)) sum += x, sq += x * x, ++n;
    if (n == 0) return std::pair<double, double>{std::nan(""), std::nan("")};
    const double m = sum / static_cast<double>(n);
    return std::pair<double, double>{m, std::sqrt(std::max(0.0, sq / static_cast<double>(n) - m * m))};
  };
  const auto [corr_mean, corr_std] = mean_std(corr_by_trial);
  const auto [mse_mean, mse_std] = mean_std(mse_by_trial);
  auto& s = r.summary;
  s["data_split"] = data_split;
  s["temporal_lag"] = lag;
  s["n_test_repeats_min"] = *std::min_element(trials.begin(), trials.end());
  s["n_test_repeats_max"] = *std::max_element(trials.begin(), trials.end());
  double total = 0;
  for (int64_t t : trials) total += static_cast<double>(t);
  s["n_test_repeats_avg"] = total / static_cast<double>(trials.size());
  s["n_neurons_total"] = r.table.size(0);
  s["n_neurons_filtered"] = r.included.sum().item<int64_t>();
  s["var_ratio_cutoff"] = cutoff;
  s["filtering_applied"] = filtering;
  s["corr_to_avg_mean"] = nanmean(r, "corr_to_average");
  s["corr_by_trial_mean"] = corr_mean;
  s["corr_by_trial_std"] = corr_std;
  s["mse_to_avg_mean"] = nanmean(r, "mse_to_average");
  s["mse_by_trial_mean"] = mse_mean;
  s["mse_by_trial_std"] = mse_std;
  s["feve_mean"] = nanmean(r, "feve_openretina");
  s["fev_mean"] = nanmean(r, "var_ratio");  // openretina's name for the mean explainable/total variance ratio
  s["poisson_loss_mean"] = nanmean(r, "poisson_loss_to_average");
  s["jackknife_mean"] = nanmean(r, "oracle_jackknife");
}

// openretina's compute_dataloader_statistics: unique frames and transitions
// of every split over all sessions. Training frames are counted over the
// whole training movie (openretina samples them with 10 passes of the
// shuffled, randomly shifted chunk loader, which approaches the same set).
void add_dataset_statistics(nlohmann::json& s, const std::map<std::string, data::SessionClips>& sessions,
                            int64_t clip_length) {
  FrameCounter train, val;
  std::map<std::string, FrameCounter> test;
  for (const auto& [k, c] : sessions) {
    if (c.train_movie.defined()) train.add(c.train_movie);
    if (c.val_movie.defined() && c.val_movie.size(1) > 0) val.add(c.val_movie, clip_length);
    for (const auto& [name, movie] : c.test_movies) test[name].add(movie);
  }
  FrameCounter train_val = train;
  train_val.merge(val);
  s["n_sessions"] = sessions.size();
  s["unique_train_frames"] = train.frames();
  s["unique_val_frames"] = val.frames();
  s["unique_train_val_frames"] = train_val.frames();
  s["unique_train_transitions"] = train.transitions();
  s["unique_val_transitions"] = val.transitions();
  nlohmann::json frames = nlohmann::json::object(), transitions = nlohmann::json::object();
  for (const auto& [name, c] : test) {
    frames[name] = c.frames();
    transitions[name] = c.transitions();
  }
  s["unique_test_frames"] = frames;
  s["unique_test_transitions"] = transitions;
}

}  // namespace

RetinaEvaluation evaluate_retina_dataset(nn::Model& model, const std::string& data_dir,
                                         const RetinaEvalRequest& request) {
  if (data_dir.empty()) fail("--data", "a retina model needs the dataset directory (--data DIR)");
  nlohmann::json data = model.spec().value("data", nlohmann::json::object());
  data["dir"] = data_dir;
  auto options = train::retina_data_options(data);
  auto dataset = train::load_retina_data(options);
  eval::check_dataset_fits_model(model, dataset, data_dir);
  // The validation clips the model was trained with (train_retina records
  // them per session), unless the layout fixes them.
  const nlohmann::json& recorded = model.spec().value("provenance", nlohmann::json::object());
  if (recorded.contains("val_clip_indices") && recorded.at("val_clip_indices").is_object())
    for (const auto& [key, clips] : recorded.at("val_clip_indices").items())
      if (dataset.responses.count(key) && !dataset.val_clip_indices.count(key) && clips.is_array())
        dataset.val_clip_indices[key] = clips.get<std::vector<int64_t>>();
  RetinaEvaluation out;
  const std::string& split = request.data_split;
  const bool fit_split = split == "train" || split == "validation";
  std::string test_name = request.test_name;
  if (!fit_split && split != "test") {
    // openretina: data_split may name a test stimulus.
    check(request.test_name.empty() || request.test_name == split, "--data-split",
          "names the test stimulus '" + split + "', --test-name '" + request.test_name + "'");
    test_name = split;
  }
  if (test_name.empty() && options.test_names.size() == 1) test_name = options.test_names[0];
  if (!fit_split && split != "test")
    check(std::find(options.test_names.begin(), options.test_names.end(), split) != options.test_names.end(),
          "--data-split", "'" + split + "' is not a split (train, validation, test) nor a test stimulus of the data (" +
                              nlohmann::json(options.test_names).dump() + ")");
  out.data_split = fit_split ? split : "test";
  out.test_name = fit_split ? "" : test_name;
  out.sessions = train::split_sessions(dataset, options.split, /*test_only=*/!fit_split && !request.dataset_statistics);

  std::map<std::string, SplitPart> parts;
  for (const auto& [key, s] : out.sessions) {
    const auto keys = model.readout_keys();
    check(std::find(keys.begin(), keys.end(), key) != keys.end(), key, "the model has no readout for this session");
    if (split == "train")
      parts[key] = predict_clips(model, s.train_movie, s.train_responses, options.split.clip_length, key, request.device);
    else if (split == "validation")
      parts[key] = predict_clips(model, s.val_movie, s.val_responses, options.split.clip_length, key, request.device);
  }
  if (fit_split) {
    out.report = single_trial_report(model, parts, request.var_ratio_cutoff);
  } else {
    eval::RetinaEvalOptions eo;
    eo.test_name = test_name;
    eo.var_ratio_cutoff = request.var_ratio_cutoff;
    eo.device = request.device;
    out.report =
        eval::evaluate_retina(model, out.sessions, eo, read_retina_ground_truth(data_dir, dataset.sessions()));
    for (const auto& [key, s] : out.sessions) {
      std::string name = test_name;
      if (name.empty()) name = s.test_movies.begin()->first;  // evaluate_retina checked there is one
      parts[key] = predict_test(model, s, name, key, request.device);
    }
  }
  add_per_trial_columns(out.report, parts);
  eval::add_column_summaries(out.report);
  add_openretina_summary(out.report, split, parts, request.var_ratio_cutoff);
  if (request.dataset_statistics) add_dataset_statistics(out.report.summary, out.sessions, options.split.clip_length);
  return out;
}

RetinaEvaluation evaluate_retina_dataset(nn::Model& model, const std::string& data_dir, const std::string& test_name,
                                         double var_ratio_cutoff, const std::string& device) {
  RetinaEvalRequest request;
  request.test_name = test_name;
  request.var_ratio_cutoff = var_ratio_cutoff;
  request.device = device;
  return evaluate_retina_dataset(model, data_dir, request);
}

namespace {
// evaluate_v1 takes the FEV threshold from the model's spec: a threshold
// given for one evaluation is set there for the call and taken back after.
class SpecThreshold {
 public:
  SpecThreshold(nn::Model& model, double threshold) : model_(model), saved_(model.spec()) {
    model.spec()["data"]["fev_threshold"] = threshold;
  }
  ~SpecThreshold() { model_.spec() = saved_; }
  SpecThreshold(const SpecThreshold&) = delete;
  SpecThreshold& operator=(const SpecThreshold&) = delete;

 private:
  nn::Model& model_;
  nlohmann::json saved_;
};
}  // namespace

V1Evaluation evaluate_v1_dataset(nn::Model& model, const V1DataFiles& files, double fev_threshold,
                                 const std::string& device, bool with_truth) {
  const V1DataFiles resolved = resolve_v1_data(files, model);  // the model's mouse, if it records one
  auto load = v1_load_options_for(model, resolved);
  if (fev_threshold >= 0) load.fev_threshold = fev_threshold;
  V1Evaluation out;
  out.dataset = data::load_v1_dataset(load);
  out.fev_threshold = load.fev_threshold;
  const at::Tensor truth = with_truth ? read_v1_truth(resolved, out.dataset) : at::Tensor();
  std::optional<SpecThreshold> threshold;
  if (fev_threshold >= 0) threshold.emplace(model, fev_threshold);
  out.report = eval::evaluate_v1(model, out.dataset, truth, device);
  if (out.dataset.is_neuron_subset()) {  // row i is the file's neuron neurons[i] (a minimodel: its one neuron)
    const at::Tensor idx = out.dataset.neuron_index.contiguous();
    out.report.summary["neurons"] = std::vector<int64_t>(idx.data_ptr<int64_t>(), idx.data_ptr<int64_t>() + idx.numel());
  }
  return out;
}

}  // namespace fovea::api
