#pragma once
// A model evaluated on a dataset directory, as `fovea eval` does it; shared
// by api::evaluate, api::train (the test-set evaluation after training) and
// api::visualize (which also draws the traces, hence the data in the result).
#include <ATen/core/Tensor.h>

#include <array>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "fovea/api/v1_data.h"
#include "fovea/data/movie_clips.h"
#include "fovea/data/v1_dataset.h"
#include "fovea/eval/report.h"
#include "fovea/nn/model.h"

namespace fovea::api {

// The noise-free test responses that `fovea simulate retina` writes next to
// the data (ground_truth/<session>.npy, (neurons, frames)); empty for recorded data.
std::map<std::string, at::Tensor> read_retina_ground_truth(const std::string& dir,
                                                           const std::vector<std::string>& sessions);

struct RetinaEvaluation {
  eval::EvaluationReport report;
  std::map<std::string, data::SessionClips> sessions;  // the clips it was computed from
  std::string test_name;                               // the test stimulus used ("" : the only one)
  std::string data_split = "test";                     // train | validation | test
};

// What openretina's `eval` takes (cli/eval.py, evaluation.*).
struct RetinaEvalRequest {
  // "train", "validation", "test", or the name of a test stimulus (as
  // openretina's data_split names a test dataloader).
  std::string data_split = "test";
  std::string test_name;            // data_split test: the stimulus ("" : the model's only one)
  double var_ratio_cutoff = 0.15;
  std::string device = "cpu";
  bool dataset_statistics = false;  // openretina's compute_dataset_statistics
};

// The dataset is read with the data options recorded in the model (its
// normalisation included) and checked against the model first. Besides
// eval::evaluate_retina's columns, the report has openretina's per-trial
// columns corr_<i>, mse_<i> (i < the session's trials; empty cells beyond)
// and its EvaluationSummary fields in report.summary: data_split,
// temporal_lag, n_test_repeats_min/max/avg, n_neurons_total,
// n_neurons_filtered, var_ratio_cutoff, filtering_applied, corr_to_avg_mean,
// corr_by_trial_mean/std, mse_to_avg_mean, mse_by_trial_mean/std, feve_mean,
// fev_mean (openretina's name for the mean var_ratio), poisson_loss_mean,
// jackknife_mean; with dataset_statistics also n_sessions and the unique
// frames and frame transitions per split (unique_train_frames, ...).
// Train and validation data are run clip by clip (clip_length frames, the
// model's lag dropped from each clip); they have one trial, so FEV, FEVE and
// the oracle are empty and every neuron counts (openretina skips its
// var_ratio filter then).
RetinaEvaluation evaluate_retina_dataset(nn::Model& model, const std::string& data_dir,
                                         const RetinaEvalRequest& request);
// The test split (as above with data_split "test").
RetinaEvaluation evaluate_retina_dataset(nn::Model& model, const std::string& data_dir, const std::string& test_name,
                                         double var_ratio_cutoff, const std::string& device);

// openretina's frame fingerprints (utils/frame_fingerprints.py): per frame of
// a movie (C, T, H, W) the float32 (mean, std (ddof 1), first pixel, last
// pixel, pixel [0, H/2, W/3]); a transition is two consecutive frames of one
// clip of `clip_length` frames (0: the whole movie is one clip).
struct FrameCounter {
  void add(const at::Tensor& movie, int64_t clip_length = 0);
  size_t frames() const { return frames_.size(); }
  size_t transitions() const { return transitions_.size(); }
  void merge(const FrameCounter& other);

 private:
  std::set<std::array<float, 5>> frames_;
  std::set<std::array<float, 10>> transitions_;
};

struct V1Evaluation {
  eval::EvaluationReport report;
  data::V1Dataset dataset;
  double fev_threshold = 0;  // the threshold of the included neurons
};
// `fev_threshold` < 0: the model's; with `with_truth`, the truth file (if
// any) adds corr_to_truth. The model's spec is left as it was.
V1Evaluation evaluate_v1_dataset(nn::Model& model, const V1DataFiles& files, double fev_threshold,
                                 const std::string& device, bool with_truth = true);

}  // namespace fovea::api
