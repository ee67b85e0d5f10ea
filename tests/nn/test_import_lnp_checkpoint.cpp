// Importing openretina's whole-model LNP checkpoints (models/linear_nonlinear.py):
// MultipleLNP (DummyCore + MultipleLNPReadout, flat hyper_parameters) and
// SingleCellSeparatedLNP (unprefixed keys, usually no hyper_parameters).
// Each checkpoint is written here, laid out as Lightning writes it, from a
// fovea model's own weights; the imported model must give the outputs of the
// model before export and of the LNP formulas computed by hand from the
// exported weights.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <set>

#include "fovea/error.h"
#include "fovea/nn/lnp.h"
#include "fovea/nn/model_file.h"
#include "test_util.h"
#include "torch_archive_writer.h"

using fovea::nn::Json;
using namespace fovea::test;

namespace {

// Lightning's bookkeeping around state_dict and hyper_parameters.
fovea::io::PyRef lightning_checkpoint(const fovea::io::PyRef& state_dict, const fovea::io::PyRef& hyper_parameters) {
  auto root = py_dict({{"epoch", py_int(7)},
                       {"global_step", py_int(1234)},
                       {"pytorch-lightning_version", py_str("2.5.0")},
                       {"state_dict", state_dict}});
  if (hyper_parameters) py_set(root, "hyper_parameters", hyper_parameters);
  return root;
}

// A model's state dict as the checkpoint's dict; `strip` is removed from the front of each key.
fovea::io::PyRef exported_state(const fovea::nn::Model& model, const std::string& strip = "") {
  auto sd = py_dict();
  for (const auto& [key, t] : model.state_dict()) {
    EXPECT_EQ(key.rfind(strip, 0), 0u) << key;
    py_set(sd, key.substr(strip.size()), py_tensor(t.detach().clone()));
  }
  return sd;
}

std::map<std::string, at::Tensor> as_map(const std::vector<std::pair<std::string, at::Tensor>>& state) {
  return {state.begin(), state.end()};
}

// An nn.Module inside hyper_parameters: Lightning keeps the DummyCore and the
// readout that MultipleLNP passes to BaseCoreReadout (pickled objects).
fovea::io::PyRef pickled_module(const std::string& class_name) {
  return py_object(class_name, py_dict({{"training", py_bool(false)},
                                        {"_parameters", py_dict()},
                                        {"_buffers", py_dict()},
                                        {"_modules", py_dict()}}));
}

// y[b, t, n] = f(Σ_{c,h,w} x[b, c, t, h, w] · W[n, c, 0, h, w]): openretina's LNP.
at::Tensor lnp_by_hand(const at::Tensor& x, const at::Tensor& w) {
  return torch::softplus(torch::einsum("bcthw,nchw->btn", {x, w.select(2, 0)}));
}

// SingleCellSeparatedLNP on a kernel-sized patch: unit-norm kernels, space
// then time (valid), then w · softplus(· + b).
at::Tensor single_cell_by_hand(const at::Tensor& patch, at::Tensor space, at::Tensor time, double b, double w) {
  space = space / space.norm();  // (rank, C, 1, h, w)
  time = time / time.norm();     // (1, rank, T, 1, 1)
  const at::Tensor s = torch::einsum("bcthw,rchw->brt", {patch, space.select(2, 0)});  // (B, rank, T_in)
  const int64_t T = time.size(2), T_out = patch.size(2) - T + 1;
  at::Tensor out = torch::zeros({patch.size(0), T_out});
  for (int64_t t = 0; t < T_out; ++t)
    out.select(1, t).copy_(torch::einsum("brt,rt->b", {s.slice(2, t, t + T), time.select(0, 0).flatten(1)}));
  return (w * torch::softplus(out + b)).unsqueeze(2);  // (B, T_out, 1)
}

}  // namespace

TEST(ImportLNPCheckpoint, MultipleLNPFromFlatHyperParameters) {
  torch::manual_seed(11);
  const Json spec = {{"family", "retina"},
                     {"core", {{"type", "dummy_core"}}},
                     {"readout",
                      {{"type", "lnp"},
                       {"n_neurons_dict", {{"session_b", 2}, {"session_a", 3}}},
                       {"nonlinearity", "softplus"},
                       {"smooth_weight", 1.0},
                       {"sparse_weight", 1.0}}},
                     {"input_shape", {2, 10, 6, 5}}};
  auto original = fovea::nn::build_model(spec);
  original->eval();

  // MultipleLNP's hyper_parameters: BaseCoreReadout's arguments (core and
  // readout modules included) updated with MultipleLNP's flat ones.
  auto hp = py_dict({{"core", pickled_module("openretina.modules.core.base_core.DummyCore")},
                     {"readout", pickled_module("openretina.modules.readout.multi_readout.MultiReadoutBase")},
                     {"learning_rate", py_float(0.001)},
                     {"loss", py_none()},
                     {"evaluation_loss", py_none()},
                     {"data_info", py_dict()},
                     {"in_shape", py_ints({2, 10, 6, 5})},
                     {"n_neurons_dict", py_dict({{"session_a", py_int(3)}, {"session_b", py_int(2)}})},
                     {"nonlinearity", py_str("softplus")},
                     {"smooth_weight", py_int(1)},
                     {"sparse_weight", py_int(1)}});
  TempDir dir;
  const std::string path = dir.file("multiple_lnp.ckpt");
  const auto state = exported_state(*original);
  write_torch_archive(path, lightning_checkpoint(state, hp));

  auto imported = fovea::nn::import_checkpoint(path);
  const Json& s = imported->spec();
  EXPECT_EQ(s["core"]["type"], "dummy_core");
  EXPECT_EQ(s["readout"]["type"], "lnp");
  EXPECT_EQ(s["readout"]["nonlinearity"], "softplus");
  EXPECT_EQ(s["readout"]["bias"], false);
  EXPECT_EQ(s["readout"]["n_neurons_dict"], (Json{{"session_a", 3}, {"session_b", 2}}));
  EXPECT_EQ(s["input_shape"], (Json{2, 10, 6, 5}));
  EXPECT_EQ(imported->readout_keys(), (std::vector<std::string>{"session_a", "session_b"}));

  // The same keys as the checkpoint's state_dict, with its values.
  const auto got = as_map(imported->state_dict());
  std::set<std::string> ckpt_keys, got_keys;
  for (const auto& [k, v] : state->entries) ckpt_keys.insert(k->text);
  for (const auto& [k, v] : got) got_keys.insert(k);
  EXPECT_EQ(got_keys, ckpt_keys);
  EXPECT_TRUE(ckpt_keys.count("readout.session_a.inner_product_kernel.weight"));
  EXPECT_TRUE(ckpt_keys.count("readout.session_b._smooth_reg_fn.laplace.filter"));
  for (const auto& [k, v] : state->entries) EXPECT_TRUE(torch::equal(got.at(k->text), v->tensor)) << k->text;

  // Longer movies than in_shape: the LNP filters each frame on its own.
  const at::Tensor x = torch::randn({3, 2, 14, 6, 5});
  torch::NoGradGuard no_grad;
  for (const std::string key : {"session_a", "session_b"}) {
    const at::Tensor y = imported->forward(x, key);
    EXPECT_LT(relative_error(y, original->forward(x, key)), 1e-6) << key;
    const at::Tensor w = state->get("readout." + key + ".inner_product_kernel.weight")->tensor;
    EXPECT_LT(relative_error(y, lnp_by_hand(x, w)), 1e-5) << key;
  }
  EXPECT_EQ(imported->forward(x, "").sizes(), (std::vector<int64_t>{3, 14, 5}));
  EXPECT_LT(relative_error(imported->forward(x, ""), original->forward(x, "")), 1e-6);
}

TEST(ImportLNPCheckpoint, SingleCellWithoutHyperParametersTakesShapesFromWeights) {
  torch::manual_seed(12);
  const Json spec = {{"family", "retina"},
                     {"core", {{"type", "dummy_core"}}},
                     {"readout",
                      {{"type", "single_cell_separated_lnp"},
                       {"in_shape", {2, 8, 7, 7}},
                       {"spat_kernel_size", {7, 7}},
                       {"rank", 2},
                       {"nonlinearity", "parametrized_softplus"}}},
                     {"input_shape", {2, 8, 7, 7}}};
  auto original = fovea::nn::build_model(spec);
  auto& cell = dynamic_cast<fovea::nn::SingleCellSeparatedLNP&>(*original->readout());
  {
    torch::NoGradGuard no_grad;
    cell.parametrized_softplus->b.fill_(0.3);
    cell.parametrized_softplus->w.fill_(1.7);
  }
  original->eval();
  // SingleCellSeparatedLNP is one LightningModule without save_hyperparameters:
  // unprefixed keys and no hyper_parameters entry.
  const auto state = exported_state(*original, "readout.");
  TempDir dir;
  const std::string path = dir.file("single_cell.ckpt");
  write_torch_archive(path, lightning_checkpoint(state, nullptr));

  auto imported = fovea::nn::import_checkpoint(path);
  const Json& s = imported->spec();
  EXPECT_EQ(s["core"]["type"], "dummy_core");
  EXPECT_EQ(s["readout"]["type"], "single_cell_separated_lnp");
  EXPECT_EQ(s["readout"]["nonlinearity"], "parametrized_softplus");
  EXPECT_EQ(s["readout"]["rank"], 2);
  EXPECT_EQ(s["input_shape"], (Json{2, 8, 7, 7}));

  const auto got = as_map(imported->state_dict());
  std::set<std::string> expected_keys, got_keys;
  for (const auto& [k, v] : state->entries) expected_keys.insert("readout." + k->text);
  for (const auto& [k, v] : got) got_keys.insert(k);
  EXPECT_EQ(got_keys, expected_keys);
  EXPECT_TRUE(state->get("space_conv.weight") && state->get("time_conv.weight") && state->get("nonlinearity.b"));
  EXPECT_DOUBLE_EQ(got.at("readout.nonlinearity.b").item<double>(), 0.3f);

  const at::Tensor x = torch::randn({2, 2, 12, 7, 7});
  torch::NoGradGuard no_grad;
  const at::Tensor y = imported->forward(x);
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{2, 5, 1}));
  EXPECT_LT(relative_error(y, original->forward(x)), 1e-6);
  EXPECT_LT(relative_error(y, single_cell_by_hand(x, state->get("space_conv.weight")->tensor,
                                                  state->get("time_conv.weight")->tensor, 0.3, 1.7)),
            1e-5);
}

TEST(ImportLNPCheckpoint, SingleCellWithHyperParametersCropsAroundTheReceptiveField) {
  torch::manual_seed(13);
  const Json spec = {{"family", "retina"},
                     {"core", {{"type", "dummy_core"}}},
                     {"readout",
                      {{"type", "single_cell_separated_lnp"},
                       {"in_shape", {2, 6, 11, 12}},
                       {"rf_location", {4, 7}},
                       {"spat_kernel_size", {5, 5}},
                       {"nonlinearity", "softplus"}}},
                     {"input_shape", {2, 6, 11, 12}}};
  auto original = fovea::nn::build_model(spec);
  original->eval();
  // The constructor's arguments, as a save_hyperparameters() call would record them.
  auto hp = py_dict({{"in_shape", py_ints({2, 6, 11, 12})},
                     {"rf_location", py_list({py_int(4), py_int(7)}, /*tuple=*/true)},
                     {"spat_kernel_size", py_list({py_int(5), py_int(5)}, /*tuple=*/true)},
                     {"learning_rate", py_float(0.001)},
                     {"rank", py_int(1)},
                     {"smooth_weight_spat", py_float(0.0)},
                     {"smooth_weight_temp", py_float(0.0)},
                     {"sparse_weight", py_float(0.0)},
                     {"smooth_regularizer_spat", py_str("LaplaceL2norm")},
                     {"smooth_regularizer_temp", py_str("Laplace1d")},
                     {"smooth_regularizer", py_str("LaplaceL2norm")},
                     {"laplace_padding", py_none()},
                     {"nonlinearity", py_str("softplus")},
                     {"normalize_weights", py_bool(true)},
                     {"loss", py_none()},
                     {"validation_loss", py_none()}});
  const auto state = exported_state(*original, "readout.");
  TempDir dir;
  const std::string path = dir.file("single_cell_hp.ckpt");
  write_torch_archive(path, lightning_checkpoint(state, hp));

  auto imported = fovea::nn::import_checkpoint(path);
  EXPECT_EQ(imported->spec()["readout"]["rf_location"], (Json{4, 7}));
  EXPECT_EQ(imported->spec()["input_shape"], (Json{2, 6, 11, 12}));
  const at::Tensor x = torch::randn({2, 2, 9, 11, 12});
  torch::NoGradGuard no_grad;
  const at::Tensor y = imported->forward(x);
  EXPECT_LT(relative_error(y, original->forward(x)), 1e-6);
  // The 5x5 patch around (row 4, column 7): rows 2..6, columns 5..9. softplus = 1 · softplus(· + 0).
  const at::Tensor patch = x.slice(3, 2, 7).slice(4, 5, 10);
  EXPECT_LT(relative_error(y, single_cell_by_hand(patch, state->get("space_conv.weight")->tensor,
                                                  state->get("time_conv.weight")->tensor, 0.0, 1.0)),
            1e-5);
}

TEST(ImportLNPCheckpoint, SingleCellWithoutAnyRecordOfItsNonlinearityIsAnError) {
  // Without hyper_parameters and without ParametrizedSoftplus weights nothing says which nonlinearity was used.
  auto state = py_dict({{"space_conv.weight", py_tensor(torch::randn({1, 2, 1, 5, 5}))},
                        {"time_conv.weight", py_tensor(torch::randn({1, 1, 6, 1, 1}))}});
  TempDir dir;
  const std::string path = dir.file("no_nonlinearity.ckpt");
  write_torch_archive(path, lightning_checkpoint(state, nullptr));
  try {
    fovea::nn::import_checkpoint(path);
    FAIL() << "expected fovea::Error";
  } catch (const fovea::Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find("nonlinearity"), std::string::npos) << msg;
  }
}
