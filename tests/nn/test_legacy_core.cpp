// The legacy Höfling core (parametric_factorized_batch_conv3d) and its
// SpatialXFeature3d readout: the reference's state-dict names, one log speed
// per session shared by the core and every layer, and a model-file round trip.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <set>

#include "legacy_model_spec.h"
#include "test_util.h"
#include "fovea/error.h"
#include "fovea/nn/legacy_core.h"
#include "fovea/nn/model_file.h"

namespace {

using fovea::nn::Json;

Json legacy_spec() { return fovea::test::legacy_model_spec(); }

std::set<std::string> keys(const fovea::nn::Model& model) {
  std::set<std::string> out;
  for (const auto& [k, v] : model.state_dict()) out.insert(k);
  return out;
}

}  // namespace

TEST(LegacyCore, StateDictHasTheReferenceNames) {
  auto model = fovea::nn::build_model(legacy_spec());
  const auto k = keys(*model);
  for (const char* name :
       {"core.log_speed_a_session", "core.log_speed_b_session", "core.features.layer0.conv.log_speed_a_session",
        "core.features.layer1.conv.log_speed_b_session", "core.features.layer0.conv.sin_weights",
        "core.features.layer1.conv.weight_spatial", "core.features.layer0.conv._log_speed_default",
        "core.features.layer0.norm.running_mean", "core.features.layer1.norm.num_batches_tracked",
        "core.features.layer0.bias.bias", "core._input_weights_regularizer_spatial.laplace.filter",
        "core._input_weights_regularizer_temporal.laplace.filter", "readout.a_session.scale",
        "readout.b_session.mask_mean", "readout.b_session.grid", "readout.a_session.features"})
    EXPECT_TRUE(k.count(name)) << name;
  // Not affine: core_bias without batch_norm_scale puts the bias in its own layer.
  EXPECT_FALSE(k.count("core.features.layer0.norm.weight"));
  EXPECT_FALSE(k.count("readout.a_session.scale_param"));
  // The log speed is a trainable parameter once, not three times.
  int speeds = 0;
  for (const auto& p : model->named_parameters()) speeds += p.key().find("log_speed_a_session") != std::string::npos;
  EXPECT_EQ(speeds, 1);
}

TEST(LegacyCore, OneLogSpeedPerSessionStretchesEveryLayer) {
  auto model = fovea::nn::build_model(legacy_spec());
  model->eval();
  torch::manual_seed(1);
  for (auto& p : model->named_parameters())
    if (p.key().find("_weights") != std::string::npos || p.key().find("weight_spatial") != std::string::npos)
      p.value().data().normal_(0.0, 0.5);
  const at::Tensor x = torch::randn({2, 2, 20, 12, 10});
  torch::NoGradGuard no_grad;
  // Output (B, T − 6 − 4, N): valid in time, "same" in space for layer 1.
  EXPECT_EQ(model->forward(x, "a_session").sizes(), (std::vector<int64_t>{2, 10, 3}));
  const at::Tensor before_a = model->forward(x, "a_session"), before_b = model->forward(x, "b_session");
  // All sessions start at log speed 0: the same core output as the default.
  EXPECT_TRUE(model->core()->forward_session(x, "a_session").equal(model->core()->forward(x)));
  // Setting the core's parameter moves the layers' copies too (one tensor).
  model->named_parameters()["core.log_speed_a_session"].fill_(0.3);
  EXPECT_FLOAT_EQ(model->named_buffers()["core.features.layer1.conv.log_speed_a_session"].item<float>(), 0.3f);
  EXPECT_FALSE(model->forward(x, "a_session").allclose(before_a));
  EXPECT_TRUE(model->forward(x, "b_session").equal(before_b));
  EXPECT_THROW(model->core()->forward_session(x, "c_session"), fovea::Error);
}

TEST(LegacyCore, ModelFileRoundTripKeepsTheSharedLogSpeed) {
  fovea::test::TempDir dir;
  auto model = fovea::nn::build_model(legacy_spec());
  model->eval();
  {
    torch::NoGradGuard no_grad;
    model->named_parameters()["core.log_speed_b_session"].fill_(-0.2);
    for (auto& p : model->named_parameters()) p.value().add_(torch::randn_like(p.value()) * 0.01);
  }
  fovea::nn::save_model(dir.file("legacy.safetensors"), *model);
  auto loaded = fovea::nn::load_model(dir.file("legacy.safetensors"));
  loaded->eval();
  const at::Tensor x = torch::randn({1, 2, 20, 12, 10});
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(loaded->forward(x, "b_session").allclose(model->forward(x, "b_session"), 1e-6, 1e-7));
  EXPECT_FLOAT_EQ(loaded->named_buffers()["core.features.layer0.conv.log_speed_b_session"].item<float>(),
                  model->named_parameters()["core.log_speed_b_session"].item<float>());
}

TEST(LegacyCore, SpecErrorsNameTheField) {
  for (const auto& [key, value] : std::vector<std::pair<std::string, Json>>{{"conv_type", "full"},
                                                                            {"nonlinearity", "ReLU"},
                                                                            {"stack", 0},
                                                                            {"hidden_channels", {4, 4, 4}}}) {
    Json spec = legacy_spec();
    spec["core"][key] = value;
    try {
      fovea::nn::build_model(spec);
      ADD_FAILURE() << key << " was accepted";
    } catch (const fovea::Error& e) {
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
    }
  }
}
