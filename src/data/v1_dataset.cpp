// The minimodel V1 dataset: images + responses, split and normalised as
// minimodel's notebooks do (load_images, load_neurons, split_train_val,
// normalize_spks, then FEV on the test repeats).
#include "fovea/data/v1_dataset.h"

#include <torch/torch.h>

#include <filesystem>
#include <string>

#include "data/tensor_checks.h"
#include "fovea/data/minimodel_mice.h"
#include "fovea/data/monkey_v1_dataset.h"
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

void use_minimodel_mouse(V1LoadOptions& o, bool crop_given, const std::string& field) {
  const MinimodelMouse& m = minimodel_mouse(o.mouse, field);
  o.mouse = m.name;
  if (o.textures && !m.textures)
    fail(field, m.name + " has no texture recording; minimodel published text16_*.npz for FX9, FX10, FX8 and FX20");
  if (o.images_path.empty() || o.responses_path.empty()) {
    check(!o.dir.empty(), field, "mouse " + m.name + " needs the folder that holds minimodel's files (data.dir / --data)");
    check(std::filesystem::is_directory(o.dir), o.dir, "the folder of minimodel's files does not exist");
  }
  const auto in_dir = [&](const std::string& name, const std::string& what) {
    const std::string path = (std::filesystem::path(o.dir) / name).string();
    check(std::filesystem::exists(path), path, "file not found (minimodel's " + what + " of mouse " + m.name + ")");
    return path;
  };
  if (o.images_path.empty()) o.images_path = in_dir(m.image_file, "images");
  if (o.responses_path.empty())
    o.responses_path = o.textures ? in_dir(m.texture_file(), "texture responses") : in_dir(m.responses_file(), "responses");
  if (!crop_given) {
    o.crop_x0 = m.crop_x0;
    o.crop_x1 = m.crop_x1;
  }
  if (m.drops_flipped_test_images()) o.drop_flipped_test_images = true;
}

at::Tensor kept_training_trials(const at::Tensor& istim_sp, bool fixtrain, bool drop_flipped_test_images) {
  at::Tensor istim = istim_sp.to(at::kLong);
  at::Tensor keep;
  if (fixtrain)  // load_neurons: np.where(istim_sp < 30000)
    keep = istim < kFlippedImagesStart;
  else if (drop_flipped_test_images)  // np.where((istim_sp < 30000) | (istim_sp > 30500))
    keep = (istim < kFlippedImagesStart).logical_or(istim > kFlippedTestImagesEnd);
  else
    keep = at::ones_like(istim, at::kBool);
  return keep.nonzero().view({-1});
}

V1Dataset select_dataset_neurons(const V1Dataset& d, const std::vector<int64_t>& neurons, const std::string& field) {
  check(!neurons.empty(), field, "no neurons selected");
  for (int64_t n : neurons)
    check(n >= 0 && n < d.n_neurons(), field,
          "neuron " + std::to_string(n) + " is out of range: " + d.origin + " has " + std::to_string(d.n_neurons()) +
              " neurons");
  const at::Tensor idx = at::tensor(neurons, at::kLong);
  V1Dataset s = d;
  s.train_responses = d.train_responses.index_select(1, idx);
  s.test_responses = d.test_responses.index_select(2, idx);
  s.response_std = d.response_std.index_select(0, idx);
  s.xpos = d.xpos.index_select(0, idx);
  s.ypos = d.ypos.index_select(0, idx);
  s.fev = d.fev.index_select(0, idx);
  s.good_neurons = d.good_neurons.index_select(0, idx);
  s.neuron_index = d.neuron_index.defined() ? d.neuron_index.index_select(0, idx) : idx;
  if (d.real_responses.defined()) s.real_responses = d.real_responses.index_select(1, idx);
  if (d.repetitions.defined()) s.repetitions = d.repetitions.index_select(0, idx);
  return s;
}

V1Dataset load_v1_dataset(const V1LoadOptions& options) {
  if (options.layout == kMonkeyCadena2019Layout) {  // one .npz of its own (monkey_v1_dataset.h)
    V1Dataset monkey = load_monkey_v1_dataset(monkey_v1_file(options), options.fev_threshold);
    return options.neurons.empty() ? monkey : select_dataset_neurons(monkey, options.neurons, "data.neurons");
  }
  check(options.layout.empty(), "data.layout",
        "unknown layout '" + options.layout + "' (known: " + kMonkeyCadena2019Layout +
            ", or none for minimodel's mouse files)");
  check(options.neurons.empty() || !options.select_by_fev, "data.neurons",
        "give data.neurons or data.select_by_fev, not both");
  V1Dataset data;
  data.origin = options.responses_path;
  data.images = load_images(options.images_path, options.crop_x0, options.crop_x1, options.downsample,
                            options.normalize_images);
  V1Neurons neurons;
  if (options.textures) {
    V1TextureNeurons t = load_texture_neurons(options.responses_path);
    neurons = std::move(t.neurons);
    data.train_labels = t.labels;
    data.test_labels = t.ss_labels;
  } else {
    neurons = load_neurons(options.responses_path);
  }

  const int64_t n_images = data.images.size(0);
  const std::string train_key = options.textures ? "istim" : "istim_sp", test_key = options.textures ? "ss_istim" : "istim_ss";
  check_image_indices(neurons.istim_sp, n_images, train_key, options.responses_path, options.images_path);
  check_image_indices(neurons.istim_ss, n_images, test_key, options.responses_path, options.images_path);

  if (options.fixtrain || options.drop_flipped_test_images) {
    const at::Tensor keep = kept_training_trials(neurons.istim_sp, options.fixtrain, options.drop_flipped_test_images);
    check(keep.numel() > 0, options.responses_path,
          std::string("no training trials left after ") +
              (options.fixtrain ? "data.fixtrain (istim < 30000)" : "dropping the flipped test images (30000..30500)"));
    neurons.spks = neurons.spks.index_select(0, keep);
    neurons.istim_sp = neurons.istim_sp.index_select(0, keep);
    if (data.train_labels.defined()) data.train_labels = data.train_labels.index_select(0, keep);
  }

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
  data.neurons_in_file = data.n_neurons();
  data.neuron_index = at::arange(data.neurons_in_file, at::kLong);

  if (!options.neurons.empty()) return select_dataset_neurons(data, options.neurons, "data.neurons");
  if (options.select_by_fev) {
    const at::Tensor good = data.good_neurons.nonzero().view({-1}).contiguous();
    check(good.numel() > 0, options.responses_path,
          "data.select_by_fev: no neuron has FEV > " + std::to_string(options.fev_threshold));
    return select_dataset_neurons(data, std::vector<int64_t>(good.data_ptr<int64_t>(), good.data_ptr<int64_t>() + good.numel()),
                                  "data.select_by_fev");
  }
  return data;
}

at::Tensor V1Dataset::trial_images(const at::Tensor& trials) const {
  return images.index_select(0, train_image_index.index_select(0, trials.to(at::kLong))).unsqueeze(1);
}

at::Tensor V1Dataset::test_images() const { return images.index_select(0, test_image_index).unsqueeze(1); }

}  // namespace fovea::data
