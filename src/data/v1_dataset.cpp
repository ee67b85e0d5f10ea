// The minimodel V1 dataset: images + responses, split and normalised as
// minimodel's notebooks do (load_images, load_neurons, split_train_val,
// normalize_spks, then FEV on the test repeats).
#include "fovea/data/v1_dataset.h"

#include <torch/torch.h>

#include <string>

#include "data/tensor_checks.h"
#include "fovea/error.h"
#include "fovea/eval/metrics.h"

namespace fovea::data {
namespace {

// Every image index of `key` must name one of the `n_images` images.
void check_image_indices(const at::Tensor& indices, int64_t n_images, const std::string& key,
                         const std::string& responses_path, const std::string& images_path) {
  if (indices.numel() == 0) return;
  const int64_t lowest = indices.min().item<int64_t>(), highest = indices.max().item<int64_t>();
  check(lowest >= 0, responses_path, key + " holds the negative image index " + std::to_string(lowest));
  check(highest < n_images, responses_path,
        key + " holds image index " + std::to_string(highest) + " but " + images_path + " has " +
            std::to_string(n_images) + " images");
}

}  // namespace

void split_train_val(int64_t n_trials, double train_fraction, at::Tensor& itrain, at::Tensor& ival) {
  check(train_fraction > 0.0 && train_fraction < 1.0, "split_train_val",
        "train_fraction must lie in (0, 1), got " + std::to_string(train_fraction));
  check(n_trials > 0, "split_train_val", "no trials to split");
  // minimodel: val_interval = int(1/(1-train_frac)); the same double arithmetic
  // and truncation, so 0.9 gives 10 (1/(1-0.9) = 10.000000000000002).
  const int64_t interval = static_cast<int64_t>(1.0 / (1.0 - train_fraction));
  check(interval >= 2, "split_train_val",
        "train_fraction " + std::to_string(train_fraction) + " makes every trial a validation trial");
  at::Tensor all = at::arange(n_trials, at::kLong);
  ival = all.slice(0, 0, n_trials, interval).contiguous();
  at::Tensor is_train = all.remainder(interval).ne(0);
  itrain = all.masked_select(is_train).contiguous();
}

V1Dataset load_v1_dataset(const V1LoadOptions& options) {
  V1Dataset data;
  data.origin = options.responses_path;
  data.images = load_images(options.images_path, options.crop_x0, options.crop_x1, options.downsample,
                            options.normalize_images);
  V1Neurons neurons = load_neurons(options.responses_path);

  const int64_t n_images = data.images.size(0);
  check_image_indices(neurons.istim_sp, n_images, "istim_sp", options.responses_path, options.images_path);
  check_image_indices(neurons.istim_ss, n_images, "istim_ss", options.responses_path, options.images_path);

  split_train_val(neurons.spks.size(0), options.train_fraction, data.itrain, data.ival);
  data.response_std = normalize_spks(neurons.spks, neurons.spks_rep_all, data.itrain);

  data.train_responses = neurons.spks;
  data.train_image_index = neurons.istim_sp;
  data.test_responses = neurons.spks_rep_all;
  data.test_image_index = neurons.istim_ss;
  data.xpos = neurons.xpos;
  data.ypos = neurons.ypos;
  data.fev = eval::fev_if_repeated(data.test_responses);  // NaN without repeated test trials
  data.good_neurons = data.fev > options.fev_threshold;  // NaN (a silent neuron) counts as not good
  return data;
}

at::Tensor V1Dataset::trial_images(const at::Tensor& trials) const {
  return images.index_select(0, train_image_index.index_select(0, trials.to(at::kLong))).unsqueeze(1);
}

at::Tensor V1Dataset::test_images() const { return images.index_select(0, test_image_index).unsqueeze(1); }

}  // namespace fovea::data
