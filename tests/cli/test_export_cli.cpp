// `fovea export` (issue 19, "back to Python"): a model written as an
// openretina Lightning checkpoint or a minimodel state dict. Debian's
// python3-torch reads each file (torch.load), its tensors equal the model's,
// and `fovea import` of the exported file predicts exactly what the model did.
// The models are the parity cases' reference weights (../shared/golden).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "cli_runner.h"
#include "fovea/io/npy.h"

using fovea::test::run_fovea;
namespace fs = std::filesystem;

namespace {

const std::string kGolden = FOVEA_GOLDEN_DIR;
const char* kPython = "/usr/bin/python3";

bool python_torch_available() {
  return fs::exists(kPython) && std::system((std::string(kPython) + " -c 'import torch' >/dev/null 2>&1").c_str()) == 0;
}

// Runs a Python script with arguments; its stdout and stderr together.
fovea::test::CliResult run_python(const std::string& script, const std::string& args, const fovea::test::TempDir& dir) {
  const std::string file = dir.file("check.py"), out = dir.file("python.txt");
  std::ofstream(file) << script;
  fovea::test::CliResult r;
  const int status = std::system((std::string(kPython) + " " + file + " " + args + " >" + out + " 2>&1").c_str());
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = fovea::test::slurp(out);
  return r;
}

// Compares a state dict with the reference one: the same keys, dtypes, shapes and values.
const char* kCompareStateDicts = R"(
def same_state(sd, ref):
    assert set(sd) == set(ref), (sorted(set(sd) ^ set(ref)))
    for k, v in ref.items():
        assert sd[k].dtype == v.dtype, (k, sd[k].dtype, v.dtype)
        assert sd[k].shape == v.shape, (k, sd[k].shape, v.shape)
        assert torch.equal(sd[k], v), k
)";

void expect_same_predictions(const std::string& a, const std::string& b, const std::string& input,
                             const std::string& session, const fovea::test::TempDir& dir) {
  const std::string extra = session.empty() ? "" : " --session " + session;
  auto pa = run_fovea("predict --model " + a + extra + " --input " + input + " -o " + dir.file("a.npy"), dir);
  ASSERT_EQ(pa.code, 0) << pa.err;
  auto pb = run_fovea("predict --model " + b + extra + " --input " + input + " -o " + dir.file("b.npy"), dir);
  ASSERT_EQ(pb.code, 0) << pb.err;
  const at::Tensor ya = fovea::io::read_npy(dir.file("a.npy")), yb = fovea::io::read_npy(dir.file("b.npy"));
  ASSERT_EQ(ya.sizes(), yb.sizes());
  EXPECT_TRUE(torch::equal(ya, yb)) << "max difference " << (ya - yb).abs().max().item<double>();
}

}  // namespace

TEST(Export, OpenretinaCheckpointLoadsInPythonAndImportsBackToTheSameModel) {
  const std::string ckpt = kGolden + "/openretina_core_readout/checkpoint.ckpt";
  if (!fs::exists(ckpt)) GTEST_SKIP() << "no parity cases at " << kGolden;
  fovea::test::TempDir dir;
  auto imported = run_fovea("import " + ckpt + " -o " + dir.file("model.safetensors"), dir);
  ASSERT_EQ(imported.code, 0) << imported.err;

  const std::string out = dir.file("exported/model.ckpt");
  auto ex = run_fovea("export " + dir.file("model.safetensors") + " --format openretina-ckpt -o " + out, dir);
  ASSERT_EQ(ex.code, 0) << ex.err;
  EXPECT_NE(ex.out.find("wrote " + out + " (openretina-ckpt, 33 tensors)"), std::string::npos) << ex.out;
  EXPECT_NE(ex.out.find("load_core_readout_model"), std::string::npos) << ex.out;
  for (const auto& e : fs::directory_iterator(dir.file("exported")))
    EXPECT_EQ(e.path().filename().string(), "model.ckpt") << "only the file, no temporary left";

  if (python_torch_available()) {
    // What load_core_readout_model reads: UnifiedCoreReadout(**hyper_parameters),
    // then a strict load_state_dict(state_dict).
    const std::string script = std::string("import sys, torch\n") + kCompareStateDicts + R"(
ck = torch.load(sys.argv[1])
same_state(ck["state_dict"], torch.load(sys.argv[2]))
assert ck["pytorch-lightning_version"] and ck["hparams_name"] == "kwargs"
hp = ck["hyper_parameters"]
assert hp["in_shape"] == (2, 150, 18, 16), hp["in_shape"]
assert hp["n_neurons_dict"] == {"session_a": 7, "session_b": 5}, hp["n_neurons_dict"]
assert hp["hidden_channels"] is None
core, readout = hp["core"], hp["readout"]
assert core["_target_"] == "openretina.modules.core.base_core.SimpleCoreWrapper"
want = {"channels": [2, 16, 16], "temporal_kernel_sizes": [21, 11], "spatial_kernel_sizes": [11, 5],
        "input_padding": [0, 0, 0], "hidden_padding": [0, 2, 2], "convolution_type": "custom_separable",
        "gamma_input": 0.3, "gamma_temporal": 40.0, "gamma_in_sparse": 0.2, "gamma_hidden": 0.1,
        "cut_first_n_frames": 0}
for k, v in want.items():
    assert core[k] == v or (k == "input_padding" and core[k] == 0), (k, core[k], v)
assert readout["_target_"] == "openretina.modules.readout.multi_readout.MultiGaussianMaskReadout"
assert readout["in_shape"][0] == 16 and readout["in_shape"][2:] == [8, 6], readout["in_shape"]
for k, v in {"scale": True, "bias": True, "positive": True, "gaussian_mean_scale": 6.0, "gaussian_var_scale": 4.0,
             "mask_l1_reg": 1.0, "feature_weights_l1_reg": 1.0}.items():
    assert readout[k] == v, (k, readout[k])
assert hp["data_info"]["input_shape"] == [2, 18, 16]
print("ok")
)";
    auto py = run_python(script, out + " " + kGolden + "/openretina_core_readout/state_dict.pt", dir);
    EXPECT_EQ(py.code, 0) << py.out;
    EXPECT_NE(py.out.find("ok"), std::string::npos) << py.out;
  }

  // Back into fovea: the same predictions, bit for bit.
  auto back = run_fovea("import " + out + " -o " + dir.file("back.safetensors"), dir);
  ASSERT_EQ(back.code, 0) << back.err;
  for (const char* session : {"session_a", "session_b"})
    expect_same_predictions(dir.file("model.safetensors"), dir.file("back.safetensors"),
                            kGolden + "/openretina_core_readout/input.npy", session, dir);
}

TEST(Export, MinimodelStateDictLoadsInPythonAndImportsBackToTheSameModel) {
  const std::string pt = kGolden + "/minimodel_full/state_dict.pt";
  if (!fs::exists(pt)) GTEST_SKIP() << "no parity cases at " << kGolden;
  fovea::test::TempDir dir;
  auto imported = run_fovea("import " + pt + " -o " + dir.file("model.safetensors"), dir);
  ASSERT_EQ(imported.code, 0) << imported.err;
  const std::string out = dir.file("fx.pt");
  auto ex = run_fovea("export " + dir.file("model.safetensors") + " --format minimodel-pt -o " + out, dir);
  ASSERT_EQ(ex.code, 0) << ex.err;
  EXPECT_NE(ex.out.find("build_model(NN=24, input_Ly=66, input_Lx=130, n_layers=2, n_conv=16, n_conv_mid=320"),
            std::string::npos)
      << ex.out;
  EXPECT_NE(ex.out.find("kernel_size=[25, 9]"), std::string::npos) << ex.out;

  if (python_torch_available()) {
    const std::string script = std::string("import sys, torch, collections\n") + kCompareStateDicts + R"(
sd = torch.load(sys.argv[1])
assert isinstance(sd, collections.OrderedDict), type(sd)
same_state(sd, torch.load(sys.argv[2]))
print("ok")
)";
    auto py = run_python(script, out + " " + pt, dir);
    EXPECT_EQ(py.code, 0) << py.out;
    EXPECT_NE(py.out.find("ok"), std::string::npos) << py.out;
  }

  auto back = run_fovea("import " + out + " -o " + dir.file("back.safetensors"), dir);
  ASSERT_EQ(back.code, 0) << back.err;
  expect_same_predictions(dir.file("model.safetensors"), dir.file("back.safetensors"),
                          kGolden + "/minimodel_full/input.npy", "", dir);
}

TEST(Export, AModelTheFormatCannotHoldIsAOneLineErrorAndWritesNothing) {
  const std::string pt = kGolden + "/minimodel_full/state_dict.pt";
  if (!fs::exists(pt)) GTEST_SKIP() << "no parity cases at " << kGolden;
  fovea::test::TempDir dir;
  auto imported = run_fovea("import " + pt + " -o " + dir.file("model.safetensors"), dir);
  ASSERT_EQ(imported.code, 0) << imported.err;
  auto ex = run_fovea("export " + dir.file("model.safetensors") + " --format openretina-ckpt -o " +
                          dir.file("out/x.ckpt"),
                      dir);
  EXPECT_EQ(ex.code, 1);
  EXPECT_EQ(fovea::test::line_count(ex.err), 1) << ex.err;
  EXPECT_NE(ex.err.find("openretina-ckpt needs openretina's core-readout model"), std::string::npos) << ex.err;
  EXPECT_NE(ex.err.find("minimodel_core"), std::string::npos) << ex.err;
  EXPECT_FALSE(fs::exists(dir.file("out/x.ckpt")));

  auto unknown = run_fovea("export " + dir.file("model.safetensors") + " --format onnx -o " + dir.file("x.onnx"), dir);
  EXPECT_EQ(unknown.code, 2) << "a usage error";
  EXPECT_FALSE(fs::exists(dir.file("x.onnx")));
}
