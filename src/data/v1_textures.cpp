// minimodel's texture recordings (text16_{mname}_{datexp}.npz) with the keys
// its code reads (scripts/catvar.py), checked like load_neurons checks the
// natural-image recordings.
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <string>

#include "data/tensor_checks.h"
#include "fovea/data/v1_dataset.h"
#include "fovea/error.h"
#include "fovea/io/npy.h"

namespace fovea::data {
namespace {

const at::Tensor* find_key(const io::NpzArrays& arrays, const std::string& key) {
  for (const auto& [name, array] : arrays)
    if (name == key) return &array;
  return nullptr;
}

const at::Tensor& need_key(const io::NpzArrays& arrays, const std::string& key, const std::string& path) {
  const at::Tensor* t = find_key(arrays, key);
  // The data README calls them differently; name what the code reads.
  if (!t) fail(path, "key '" + key + "' is missing (a text16 texture file has sp, istim, labels, ss_all, ss_istim, ss_labels)");
  return *t;
}

// Integer vectors (image indices, class labels) as int64, as astype(int).
at::Tensor int_vector(const at::Tensor& t, int64_t size, const std::string& path, const std::string& key,
                      const std::string& axis, const std::string& size_of) {
  check_dims(t, 1, path, key, "(" + axis + ",)");
  check(t.scalar_type() != at::kBool && !at::isComplexType(t.scalar_type()), path, key + " must hold integers");
  check_finite(t, path, key);
  check(t.size(0) == size, path,
        key + " has " + std::to_string(t.size(0)) + " entries but " + size_of + " has " + std::to_string(size));
  return t.to(at::kLong).contiguous();
}

void check_numeric(const at::Tensor& t, const std::string& path, const std::string& key) {
  check(!at::isComplexType(t.scalar_type()) && t.scalar_type() != at::kBool, path,
        key + " must be numeric, got dtype " + std::string(c10::toString(t.scalar_type())));
  check_finite(t, path, key);
}

}  // namespace

V1TextureNeurons load_texture_neurons(const std::string& path) {
  check(std::filesystem::exists(path), path, "file not found");
  const io::NpzArrays arrays = io::read_npz(path);
  const at::Tensor& sp = need_key(arrays, "sp", path);
  const at::Tensor& ss_all = need_key(arrays, "ss_all", path);
  check_dims(sp, 2, path, "sp", "(neurons, trials)");
  check_dims(ss_all, 3, path, "ss_all", "(test images, repeats, neurons)");
  const int64_t n_neurons = sp.size(0), n_trials = sp.size(1), n_test = ss_all.size(0);
  check(n_neurons > 0 && n_trials > 0, path, "sp " + shape_string(sp) + " holds no responses");
  check(n_test > 0 && ss_all.size(1) >= 1, path, "ss_all " + shape_string(ss_all) + " holds no test responses");
  check(ss_all.size(2) == n_neurons, path,
        "ss_all has " + std::to_string(ss_all.size(2)) + " neurons but sp has " + std::to_string(n_neurons));
  check_numeric(sp, path, "sp");
  check_numeric(ss_all, path, "ss_all");

  V1TextureNeurons out;
  V1Neurons& n = out.neurons;
  n.istim_sp = int_vector(need_key(arrays, "istim", path), n_trials, path, "istim", "trials", "sp's trial axis");
  out.labels = int_vector(need_key(arrays, "labels", path), n_trials, path, "labels", "trials", "sp's trial axis");
  n.istim_ss = int_vector(need_key(arrays, "ss_istim", path), n_test, path, "ss_istim", "test images", "ss_all");
  out.ss_labels = int_vector(need_key(arrays, "ss_labels", path), n_test, path, "ss_labels", "test images", "ss_all");
  n.spks = sp.to(at::kFloat).t().contiguous();  // (trials, neurons), as catvar.py's dat['sp'].T
  n.spks_rep_all = ss_all.to(at::kFloat).contiguous();
  for (auto [key, dst] : {std::pair<const char*, at::Tensor*>{"xpos", &n.xpos}, {"ypos", &n.ypos}}) {
    const at::Tensor* t = find_key(arrays, key);
    if (!t) {
      *dst = at::full({n_neurons}, std::nan(""), at::kFloat);  // not part of the texture files
      continue;
    }
    check_dims(*t, 1, path, key, "(neurons,)");
    check(t->size(0) == n_neurons, path,
          std::string(key) + " has " + std::to_string(t->size(0)) + " entries but sp has " + std::to_string(n_neurons) + " neurons");
    *dst = t->to(at::kFloat).contiguous();
  }
  return out;
}

}  // namespace fovea::data
