#pragma once
// A model evaluated on a dataset directory, as `fovea eval` does it; shared
// by api::evaluate, api::train (the test-set evaluation after training) and
// api::visualize (which also draws the traces, hence the data in the result).
#include <ATen/core/Tensor.h>

#include <map>
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
  std::map<std::string, data::SessionClips> sessions;  // the test clips it was computed from
  std::string test_name;                               // the test stimulus used ("" : the only one)
};
// The dataset is read with the data options recorded in the model (its
// normalisation included) and checked against the model first.
RetinaEvaluation evaluate_retina_dataset(nn::Model& model, const std::string& data_dir, const std::string& test_name,
                                         double var_ratio_cutoff, const std::string& device);

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
