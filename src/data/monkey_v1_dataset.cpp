// minimodel's monkey V1 file (Cadena et al. 2019), read and normalised as
// notebooks/fullmodel_monkey.ipynb does.
#include "fovea/data/monkey_v1_dataset.h"

#include <ATen/ATen.h>

#include <filesystem>
#include <limits>
#include <string>

#include "data/tensor_checks.h"
#include "fovea/error.h"
#include "fovea/eval/metrics_nan.h"
#include "fovea/io/npy.h"

namespace fovea::data {
namespace {

const at::Tensor& key_of(const io::NpzArrays& arrays, const std::string& key, const std::string& path) {
  for (const auto& [name, array] : arrays)
    if (name == key) return array;
  fail(path, "key '" + key + "' is missing");
}

void check_numeric(const at::Tensor& t, const std::string& path, const std::string& key) {
  check(!at::isComplexType(t.scalar_type()) && t.scalar_type() != at::kBool, path,
        key + " must be numeric, got dtype " + std::string(c10::toString(t.scalar_type())));
}

// A 0/1 mask (bool, integers or floats) as bool; anything else is an error.
at::Tensor mask_of(const at::Tensor& t, const std::string& path, const std::string& key) {
  check(!at::isComplexType(t.scalar_type()), path, key + " must be a 0/1 mask");
  if (t.scalar_type() == at::kBool) return t.contiguous();
  check_finite(t, path, key);
  at::Tensor nonbinary = t.ne(0) & t.ne(1);
  const int64_t bad = nonbinary.sum().item<int64_t>();
  check(bad == 0, path, key + " must be a 0/1 mask, " + std::to_string(bad) + " values are neither");
  return t.ne(0).contiguous();
}

// (n, 1, H, W) images as (n, H, W) float32.
at::Tensor images_of(const at::Tensor& t, const std::string& path, const std::string& key) {
  check_dims(t, 4, path, key, "(images, 1, height, width)");
  check(t.size(1) == 1, path, key + " " + shape_string(t) + " must have one channel (images, 1, height, width)");
  check(t.size(0) > 0 && t.size(2) > 0 && t.size(3) > 0, path, key + " " + shape_string(t) + " holds no images");
  check_numeric(t, path, key);
  check_finite(t, path, key);
  return t.select(1, 0).to(at::kFloat).contiguous();
}

// Trial indices (1-D integers within [0, n_trials)).
at::Tensor indices_of(const at::Tensor& t, int64_t n_trials, const std::string& path, const std::string& key) {
  check_dims(t, 1, path, key, "(trials,)");
  check(!at::isFloatingType(t.scalar_type()) && t.scalar_type() != at::kBool && !at::isComplexType(t.scalar_type()),
        path, key + " must hold integer trial indices, got dtype " + std::string(c10::toString(t.scalar_type())));
  check(t.numel() > 0, path, key + " is empty");
  at::Tensor idx = t.to(at::kLong).contiguous();
  const int64_t lo = idx.min().item<int64_t>(), hi = idx.max().item<int64_t>();
  check(lo >= 0 && hi < n_trials, path,
        key + " holds the trial index " + std::to_string(lo < 0 ? lo : hi) + " but responses has " +
            std::to_string(n_trials) + " trials");
  return idx;
}

void check_same_shape(const at::Tensor& a, const std::string& a_key, const at::Tensor& b, const std::string& b_key,
                      const std::string& path) {
  check(a.sizes() == b.sizes(), path,
        b_key + " has the shape " + shape_string(b) + " but " + a_key + " has " + shape_string(a));
}

}  // namespace

std::string monkey_v1_file(const V1LoadOptions& options) {
  if (!options.responses_path.empty()) return options.responses_path;
  if (options.dir.empty())
    fail("data", std::string("layout ") + kMonkeyCadena2019Layout + " needs data.dir (holding " +
                     kMonkeyCadena2019File + ") or data.responses (the .npz)");
  return (std::filesystem::path(options.dir) / kMonkeyCadena2019File).string();
}

V1Dataset load_monkey_v1_dataset(const std::string& path, double fev_threshold) {
  check(std::filesystem::exists(path), path, "file not found");
  const io::NpzArrays arrays = io::read_npz(path);
  // The keys the notebook reads, all of them (a missing one is a KeyError there).
  for (const char* k : {"images", "responses", "real_responses", "test_images", "test_responses",
                        "test_real_responses", "train_idx", "val_idx", "repetitions", "subject_id", "image_ids"})
    key_of(arrays, k, path);

  const at::Tensor& responses = key_of(arrays, "responses", path);
  const at::Tensor& test_responses = key_of(arrays, "test_responses", path);
  check_dims(responses, 2, path, "responses", "(trials, neurons)");
  check_dims(test_responses, 3, path, "test_responses", "(repeats, test images, neurons)");
  check_numeric(responses, path, "responses");
  check_numeric(test_responses, path, "test_responses");
  const int64_t n_trials = responses.size(0), n_neurons = responses.size(1);
  check(n_trials > 0 && n_neurons > 0, path, "responses " + shape_string(responses) + " holds no responses");
  at::Tensor real = mask_of(key_of(arrays, "real_responses", path), path, "real_responses");
  check_same_shape(responses, "responses", real, "real_responses", path);
  at::Tensor test_real = mask_of(key_of(arrays, "test_real_responses", path), path, "test_real_responses");
  check_same_shape(test_responses, "test_responses", test_real, "test_real_responses", path);

  at::Tensor images = images_of(key_of(arrays, "images", path), path, "images");
  at::Tensor test_images = images_of(key_of(arrays, "test_images", path), path, "test_images");
  check(images.size(0) == n_trials, path,
        "images has " + std::to_string(images.size(0)) + " images but responses has " + std::to_string(n_trials) +
            " trials");
  check(test_images.sizes().slice(1) == images.sizes().slice(1), path,
        "test_images are " + std::to_string(test_images.size(1)) + "x" + std::to_string(test_images.size(2)) +
            " but images are " + std::to_string(images.size(1)) + "x" + std::to_string(images.size(2)));
  check(test_responses.size(1) == test_images.size(0), path,
        "test_responses has " + std::to_string(test_responses.size(1)) + " test images but test_images has " +
            std::to_string(test_images.size(0)));
  check(test_responses.size(2) == n_neurons, path,
        "test_responses has " + std::to_string(test_responses.size(2)) + " neurons but responses has " +
            std::to_string(n_neurons));

  const at::Tensor& reps = key_of(arrays, "repetitions", path);
  check_dims(reps, 1, path, "repetitions", "(neurons,)");
  check(reps.size(0) == n_neurons, path,
        "repetitions has " + std::to_string(reps.size(0)) + " entries but responses has " + std::to_string(n_neurons) +
            " neurons");
  check(!at::isFloatingType(reps.scalar_type()) && reps.scalar_type() != at::kBool, path,
        "repetitions must be integers, got dtype " + std::string(c10::toString(reps.scalar_type())));
  at::Tensor repetitions = reps.to(at::kLong).contiguous();
  check(repetitions.min().item<int64_t>() >= 1 && repetitions.max().item<int64_t>() <= test_responses.size(0), path,
        "repetitions must lie in [1, " + std::to_string(test_responses.size(0)) + "] (the test repeats)");
  const at::Tensor& subject = key_of(arrays, "subject_id", path);
  check_dims(subject, 1, path, "subject_id", "(neurons,)");
  check(subject.size(0) == n_neurons, path,
        "subject_id has " + std::to_string(subject.size(0)) + " entries but responses has " +
            std::to_string(n_neurons) + " neurons");

  V1Dataset data;
  data.origin = path;
  data.itrain = indices_of(key_of(arrays, "train_idx", path), n_trials, path, "train_idx");
  data.ival = indices_of(key_of(arrays, "val_idx", path), n_trials, path, "val_idx");

  // Only the real responses must be finite: the others are ignored (set to 0 below).
  const double nan = std::numeric_limits<double>::quiet_NaN();
  at::Tensor y = responses.to(at::kDouble).masked_fill(real.logical_not(), nan);
  at::Tensor y_test = test_responses.to(at::kDouble).masked_fill(test_real.logical_not(), nan);
  check(!y.isinf().any().item<bool>(), path, "responses holds infinite values");
  check(!y_test.isinf().any().item<bool>(), path, "test_responses holds infinite values");
  const int64_t nan_real = y.isnan().sum().item<int64_t>() - real.logical_not().sum().item<int64_t>();
  check(nan_real == 0, path, "responses holds " + std::to_string(nan_real) + " NaN values where real_responses is 1");
  const int64_t nan_test = y_test.isnan().sum().item<int64_t>() - test_real.logical_not().sum().item<int64_t>();
  check(nan_test == 0, path,
        "test_responses holds " + std::to_string(nan_test) + " NaN values where test_real_responses is 1");

  // resp_std = np.nanstd(np.where(real_responses, responses, nan), axis=0): ddof 0, all N trials.
  at::Tensor count = real.sum(0).to(at::kDouble);
  at::Tensor mean = at::nansum(y, {0}) / count;
  at::Tensor std = (at::nansum((y - mean).pow(2), {0}) / count).sqrt();
  at::Tensor bad = std.isnan() | std.le(0);
  if (bad.any().item<bool>()) {
    const int64_t n = bad.nonzero()[0][0].item<int64_t>();
    fail(path, "responses of neuron " + std::to_string(n) +
                   (count[n].item<double>() == 0 ? " are never real (real_responses is 0 on every trial)"
                                                 : " do not vary over the real trials (std 0): cannot normalise"));
  }
  data.response_std = std.to(at::kFloat);
  data.train_responses = (y / std).nan_to_num(0.0).to(at::kFloat).contiguous();
  data.real_responses = real;
  // (repeats, T, neurons) -> fovea's (T, repeats, neurons), NaN where missing.
  data.test_responses = (y_test / std).permute({1, 0, 2}).to(at::kFloat).contiguous();
  data.repetitions = repetitions;

  const int64_t n_test = test_images.size(0);
  data.images = at::cat({images, test_images}, 0);
  data.train_image_index = at::arange(n_trials, at::kLong);
  data.test_image_index = at::arange(n_trials, n_trials + n_test, at::kLong);
  // No positions in this layout.
  data.xpos = at::full({n_neurons}, nan, at::kFloat);
  data.ypos = at::full({n_neurons}, nan, at::kFloat);
  data.neuron_index = at::arange(n_neurons, at::kLong);
  data.neurons_in_file = n_neurons;
  data.fev = eval::monkey_fev(data.test_responses, data.repetitions);
  data.good_neurons = data.fev > fev_threshold;  // NaN counts as not good
  return data;
}

}  // namespace fovea::data
