#pragma once
// Writes minimodel's monkey V1 file (monkeyv1_cadena_2019.npz) in the exact
// layout of minimodel's converter (data/monkey_data.ipynb): images (N, 1, H, W)
// float32, responses / real_responses (N, neurons), test_images (T, 1, H, W),
// test_responses / test_real_responses (repeats, T, neurons), train_idx,
// val_idx (int64), repetitions, subject_id (neurons,), image_ids (N, 1).
// Tests change or drop keys before writing to make bad files.
#include <ATen/ATen.h>

#include <string>
#include <utility>

#include "fovea/io/npy.h"

namespace fovea::test {

struct MonkeyV1File {
  io::NpzArrays arrays;

  at::Tensor& operator[](const std::string& key) {
    for (auto& [name, t] : arrays)
      if (name == key) return t;
    arrays.emplace_back(key, at::Tensor());
    return arrays.back().second;
  }
  void erase(const std::string& key) {
    for (auto it = arrays.begin(); it != arrays.end(); ++it)
      if (it->first == key) {
        arrays.erase(it);
        return;
      }
  }
  void write(const std::string& path) const { io::write_npz(path, arrays); }
};

// A small recording whose responses follow the images (a rectified linear
// filter per neuron plus noise), so a model can learn something; about 10%
// of the responses and of the test trials are missing (0, mask false), and
// neuron 0 counts only its first 3 test repeats.
inline MonkeyV1File synthetic_monkey_v1(int64_t n_trials = 200, int64_t n_neurons = 3, int64_t n_test = 20,
                                        int64_t size = 16, int64_t repeats = 4, uint64_t seed = 7) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  MonkeyV1File f;
  at::Tensor images = at::randn({n_trials, 1, size, size}, gen);
  at::Tensor test_images = at::randn({n_test, 1, size, size}, gen);
  at::Tensor filters = at::randn({n_neurons, size * size}, gen) / static_cast<double>(size);
  auto rate = [&](const at::Tensor& img) { return (img.reshape({img.size(0), -1}).matmul(filters.t())).relu() + 0.2; };
  at::Tensor responses = rate(images) + 0.1 * at::randn({n_trials, n_neurons}, gen).abs();
  at::Tensor real = at::rand({n_trials, n_neurons}, gen) > 0.1;
  at::Tensor test = rate(test_images).unsqueeze(0) + 0.1 * at::randn({repeats, n_test, n_neurons}, gen).abs();
  at::Tensor test_real = at::rand({repeats, n_test, n_neurons}, gen) > 0.1;
  f["images"] = images.to(at::kFloat);
  f["responses"] = responses.masked_fill(real.logical_not(), 0.0).to(at::kFloat);
  f["real_responses"] = real;
  f["test_images"] = test_images.to(at::kFloat);
  f["test_responses"] = test.masked_fill(test_real.logical_not(), 0.0).to(at::kFloat);
  f["test_real_responses"] = test_real;
  at::Tensor all = at::arange(n_trials, at::kLong);
  f["train_idx"] = all.slice(0, 0, n_trials * 4 / 5).contiguous();
  f["val_idx"] = all.slice(0, n_trials * 4 / 5).contiguous();
  at::Tensor reps = at::full({n_neurons}, repeats, at::kLong);
  reps[0] = repeats - 1;
  f["repetitions"] = reps;
  f["subject_id"] = at::full({n_neurons}, 4, at::kLong);
  f["image_ids"] = at::arange(n_trials, at::kLong).reshape({n_trials, 1});
  return f;
}

}  // namespace fovea::test
