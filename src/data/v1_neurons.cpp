// minimodel's load_neurons and normalize_spks: the responses .npz, checked so
// that a malformed file fails with one line instead of a wrong shape later.
#include <torch/torch.h>

#include <filesystem>
#include <string>

#include "data/tensor_checks.h"
#include "fovea/data/v1_dataset.h"
#include "fovea/error.h"
#include "fovea/io/npy.h"

namespace fovea::data {
namespace {

const at::Tensor& npz_key(const io::NpzArrays& arrays, const std::string& key, const std::string& path) {
  for (const auto& [name, array] : arrays)
    if (name == key) return array;
  fail(path, "key '" + key + "' is missing");
}

// Stimulus indices as int64, as minimodel's astype('int').
at::Tensor image_indices(const at::Tensor& t, const std::string& path, const std::string& key) {
  check_dims(t, 1, path, key, "(" + std::string(key == "istim_sp" ? "trials" : "test images") + ",)");
  check(t.scalar_type() != at::kBool, path, key + " must hold image indices, got booleans");
  check_finite(t, path, key);
  return t.to(at::kLong).contiguous();
}

}  // namespace

V1Neurons load_neurons(const std::string& path) {
  check(std::filesystem::exists(path), path, "file not found");
  const io::NpzArrays arrays = io::read_npz(path);

  const at::Tensor& sp = npz_key(arrays, "sp", path);
  const at::Tensor& istim_sp = npz_key(arrays, "istim_sp", path);
  const at::Tensor& ss_all = npz_key(arrays, "ss_all", path);
  const at::Tensor& istim_ss = npz_key(arrays, "istim_ss", path);
  const at::Tensor& xpos = npz_key(arrays, "xpos", path);
  const at::Tensor& ypos = npz_key(arrays, "ypos", path);

  check_dims(sp, 2, path, "sp", "(neurons, trials)");
  check_dims(ss_all, 3, path, "ss_all", "(test images, repeats, neurons)");
  check_dims(xpos, 1, path, "xpos", "(neurons,)");
  check_dims(ypos, 1, path, "ypos", "(neurons,)");

  V1Neurons out;
  out.istim_sp = image_indices(istim_sp, path, "istim_sp");
  out.istim_ss = image_indices(istim_ss, path, "istim_ss");

  const int64_t n_neurons = sp.size(0), n_trials = sp.size(1);
  check(n_neurons > 0 && n_trials > 0, path, "sp " + shape_string(sp) + " holds no responses");
  check(out.istim_sp.size(0) == n_trials, path,
        "sp has " + std::to_string(n_trials) + " trials but istim_sp has " + std::to_string(out.istim_sp.size(0)) +
            " entries");
  check(ss_all.size(2) == n_neurons, path,
        "ss_all has " + std::to_string(ss_all.size(2)) + " neurons but sp has " + std::to_string(n_neurons));
  check(ss_all.size(0) == out.istim_ss.size(0), path,
        "ss_all has " + std::to_string(ss_all.size(0)) + " test images but istim_ss has " +
            std::to_string(out.istim_ss.size(0)) + " entries");
  check(ss_all.size(0) > 0, path, "ss_all holds no test images");
  // One repeat is allowed: the evaluation then leaves FEV, FEVE and the oracle empty.
  check(ss_all.size(1) >= 1, path, "ss_all holds no repeats of the test images");
  check(xpos.size(0) == n_neurons, path,
        "xpos has " + std::to_string(xpos.size(0)) + " entries but sp has " + std::to_string(n_neurons) + " neurons");
  check(ypos.size(0) == n_neurons, path,
        "ypos has " + std::to_string(ypos.size(0)) + " entries but sp has " + std::to_string(n_neurons) + " neurons");
  for (const auto& [key, t] : {std::pair<const char*, const at::Tensor*>{"sp", &sp}, {"ss_all", &ss_all}})
    check(!at::isComplexType(t->scalar_type()) && t->scalar_type() != at::kBool, path,
          std::string(key) + " must be numeric, got dtype " + std::string(c10::toString(t->scalar_type())));
  check_finite(sp, path, "sp");
  check_finite(ss_all, path, "ss_all");

  out.spks = sp.to(at::kFloat).t().contiguous();  // (trials, neurons), as spks.T
  out.spks_rep_all = ss_all.to(at::kFloat).contiguous();
  out.xpos = xpos.to(at::kFloat).contiguous();
  out.ypos = ypos.to(at::kFloat).contiguous();
  return out;
}

at::Tensor normalize_spks(at::Tensor& spks, at::Tensor& spks_rep, const at::Tensor& itrain) {
  check(spks.dim() == 2 && spks_rep.dim() == 3 && spks_rep.size(2) == spks.size(1), "normalize_spks",
        "expected spks (trials, neurons) and spks_rep (test images, repeats, neurons), got " + shape_string(spks) +
            " and " + shape_string(spks_rep));
  check(itrain.numel() > 0, "normalize_spks", "no training trials to take the std over");
  // std over training trials, ddof 0, accumulated in float64.
  at::Tensor spks_std = spks.index_select(0, itrain).to(at::kDouble).std(0, /*unbiased=*/false).to(at::kFloat);
  spks_std.masked_fill_(spks_std < 0.01f, 0.01f);
  spks = spks / spks_std;
  spks_rep = spks_rep / spks_std;
  return spks_std;
}

}  // namespace fovea::data
