// Top images of a V1 neuron: the ranking against the model run image by
// image, the channel activity against the explicit core → einsum, the Wc
// threshold and order, minimodel's weight_bandwidth and get_image_mask
// against numbers printed by the reference code, and the errors.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "fovea/error.h"
#include "test_util.h"
#include "fovea/insilico/top_images.h"
#include "fovea/nn/model.h"
#include "fovea/nn/v1_readouts.h"

using namespace fovea::insilico;
using fovea::nn::Json;

using fovea::test::error_of;

namespace {

constexpr int64_t kLy = 17, kLx = 33;  // the core's feature map for 34 × 66 images (2× pooling)

// Wy, Wx of the reference check (float32, as numpy's .astype(np.float32)).
at::Tensor gaussian_row(int64_t n, double centre, double sigma) {
  auto x = torch::arange(n, torch::kDouble);
  return torch::exp(-(x - centre).pow(2) / (2 * sigma * sigma)).to(torch::kFloat32);
}

// A minimodel-style model on 34 × 66 images, 3 neurons, random core weights;
// neuron 1 has the reference check's spatial weights and chosen Wc.
std::shared_ptr<fovea::nn::Model> v1_model() {
  Json spec = {{"core", {{"type", "minimodel_core"}, {"n_conv", 4}, {"n_conv_mid", 6}, {"kernel_size", {7, 3}}}},
               {"readout", {{"type", "rank1"}, {"n_neurons", 3}}},
               {"input_shape", {1, 34, 66}}};
  auto model = fovea::nn::build_model(spec);
  torch::manual_seed(7);
  torch::NoGradGuard no_grad;
  for (auto& p : model->parameters())
    if (p.dim() > 1) p.normal_(0.0, 0.3);
  auto readout = std::dynamic_pointer_cast<fovea::nn::Rank1Readout>(model->readout());
  readout->Wy.uniform_(0, 1);
  readout->Wx.uniform_(0, 1);
  readout->Wy[1][0].copy_(gaussian_row(kLy, 5.3, 1.5));
  readout->Wx[1][0].copy_(gaussian_row(kLx, 21.6, 2.5));
  readout->Wc[1][0].copy_(torch::tensor({0.5, -0.3, 0.005, 0.02, -0.008, 0.9}));
  readout->bias.fill_(0.1);
  model->train();  // top_images must switch to eval mode and back
  return model;
}


std::vector<int64_t> sorted_descending(const at::Tensor& v) {
  auto order = std::get<1>(v.sort(/*stable=*/true, /*dim=*/0, /*descending=*/true));
  return std::vector<int64_t>(order.data_ptr<int64_t>(), order.data_ptr<int64_t>() + order.numel());
}

TEST(TopImages, RankingIsTheModelsPredictionImageByImage) {
  auto model = v1_model();
  torch::manual_seed(3);
  const at::Tensor images = torch::randn({37, 1, 34, 66});
  TopImagesOptions options;
  options.batch_size = 10;  // several batches and a short last one
  const auto r = top_images(*model, images, 1, options);
  EXPECT_TRUE(model->is_training());
  ASSERT_EQ(r.predictions.sizes(), (std::vector<int64_t>{37}));

  model->eval();
  torch::NoGradGuard no_grad;
  for (int64_t i : {0, 5, 17, 36}) {
    const double direct = model->forward(images.narrow(0, i, 1))[0][1].item<double>();
    EXPECT_NEAR(r.predictions[i].item<double>(), direct, 1e-5) << "image " << i;
  }
  EXPECT_EQ(r.image_order, sorted_descending(r.predictions));
  ASSERT_EQ(r.top_images.size(), 16u);
  EXPECT_EQ(r.top_images, std::vector<int64_t>(r.image_order.begin(), r.image_order.begin() + 16));
  for (size_t k = 1; k < r.image_order.size(); ++k)
    EXPECT_GE(r.predictions[r.image_order[k - 1]].item<float>(), r.predictions[r.image_order[k]].item<float>());
}

TEST(TopImages, ChannelActivityIsTheNeuronsSpatialPoolingOfTheCore) {
  auto model = v1_model();
  torch::manual_seed(4);
  const at::Tensor images = torch::randn({12, 34, 66});  // (n, H, W) is accepted too
  const auto r = top_images(*model, images, 1);
  ASSERT_EQ(r.channel_activity.sizes(), (std::vector<int64_t>{12, 6}));

  model->eval();
  torch::NoGradGuard no_grad;
  auto readout = std::dynamic_pointer_cast<fovea::nn::Rank1Readout>(model->readout());
  const at::Tensor features = model->core()->forward(images.unsqueeze(1));
  ASSERT_EQ(features.sizes(), (std::vector<int64_t>{12, 6, kLy, kLx}));
  const at::Tensor wy = readout->Wy[1][0], wx = readout->Wx[1][0];
  at::Tensor explicit_activity = torch::zeros({12, 6});
  for (int64_t n = 0; n < 12; ++n)
    for (int64_t c = 0; c < 6; ++c)
      explicit_activity[n][c] = (features[n][c] * wy.view({-1, 1}) * wx.view({1, -1})).sum();
  EXPECT_TRUE(torch::allclose(r.channel_activity, explicit_activity, 1e-4, 1e-4));
  // The neuron's drive is the Wc-weighted sum of the channel activities.
  const at::Tensor drive = r.channel_activity.mm(readout->Wc[1][0].view({-1, 1})).view(-1) + readout->bias[1];
  EXPECT_TRUE(torch::allclose(r.predictions, torch::elu(drive) + 1.0, 1e-4, 1e-4));
}

TEST(TopImages, ChannelsAboveTheThresholdOrderedByWcWithTheirTopImages) {
  auto model = v1_model();
  torch::manual_seed(5);
  const at::Tensor images = torch::randn({30, 1, 34, 66});
  // Wc = {0.5, −0.3, 0.005, 0.02, −0.008, 0.9}
  const auto r = top_images(*model, images, 1);
  EXPECT_EQ(r.channels, (std::vector<int64_t>{5, 0, 3, 1}));
  ASSERT_EQ(r.channel_wc.size(), 4u);
  EXPECT_NEAR(r.channel_wc[0], 0.9, 1e-6);
  EXPECT_NEAR(r.channel_wc[3], -0.3, 1e-6);
  ASSERT_EQ(r.channel_top_images.size(), 4u);
  for (size_t k = 0; k < 4; ++k) {
    const auto expected = sorted_descending(r.channel_activity.select(1, r.channels[k]));
    EXPECT_EQ(r.channel_top_images[k], std::vector<int64_t>(expected.begin(), expected.begin() + 8)) << k;
  }
  // The tutorial's threshold for minimodels keeps two channels: −0.3 (as
  // float32, −0.30000001) is not above 0.3 when compared in float32 as numpy does.
  TopImagesOptions tutorial;
  tutorial.wc_threshold = 0.3;
  tutorial.n_top = 5;
  tutorial.n_channel_top = 3;
  const auto t = top_images(*model, images, 1, tutorial);
  EXPECT_EQ(t.channels, (std::vector<int64_t>{5, 0}));
  EXPECT_EQ(t.top_images.size(), 5u);
  EXPECT_EQ(t.channel_top_images[1].size(), 3u);
  // More images asked for than exist: all of them.
  tutorial.n_top = 100;
  EXPECT_EQ(top_images(*model, images.narrow(0, 0, 4), 1, tutorial).top_images.size(), 4u);
}

// Printed by minimodel's utils.weight_bandwidth (scipy 1.10.1).
TEST(WeightBandwidth, EqualsTheReference) {
  const auto a = weight_bandwidth({0.0, 0.1, 0.05, 0.3, 0.9, 1.0, 0.7, 0.2, 0.25, 0.1, 0.0, 0.05});
  EXPECT_DOUBLE_EQ(a.bandwidth, 5.5);
  EXPECT_DOUBLE_EQ(a.center, 5.25);
  // Peak at the edge of a vector shorter than the Gaussian's reach (30 samples).
  const auto b = weight_bandwidth({1.0, 0.8, 0.3, 0.1, 0.0});
  EXPECT_DOUBLE_EQ(b.bandwidth, 2.5);
  EXPECT_DOUBLE_EQ(b.center, 1.25);
  std::vector<double> wy(kLy), wx(kLx);
  const at::Tensor gy = gaussian_row(kLy, 5.3, 1.5), gx = gaussian_row(kLx, 21.6, 2.5);
  for (int64_t i = 0; i < kLy; ++i) wy[i] = gy[i].item<float>();
  for (int64_t i = 0; i < kLx; ++i) wx[i] = gx[i].item<float>();
  EXPECT_DOUBLE_EQ(weight_bandwidth(wy).bandwidth, 5.0);
  EXPECT_DOUBLE_EQ(weight_bandwidth(wy).center, 5.5);
  EXPECT_DOUBLE_EQ(weight_bandwidth(wx).bandwidth, 7.0);
  EXPECT_DOUBLE_EQ(weight_bandwidth(wx).center, 22.0);
}

// minimodel's get_image_mask (cv2 4.6, scipy 1.10.1) on Wy = exp(−(y − 5.3)²/4.5),
// Wx = exp(−(x − 21.6)²/12.5) (float32), Ly = 17, Lx = 33, image 34 × 66.
TEST(ImageMask, EqualsTheReferenceForTheChosenNeuron) {
  auto model = v1_model();
  auto readout = std::dynamic_pointer_cast<fovea::nn::Rank1Readout>(model->readout());
  const at::Tensor mask = image_mask(*readout, 1, 34, 66);
  ASSERT_EQ(mask.sizes(), (std::vector<int64_t>{34, 66}));
  EXPECT_NEAR(mask.sum().item<double>(), 367.00276831770316, 1e-3);
  EXPECT_NEAR(mask.pow(2).sum().item<double>(), 187.29895574384227, 1e-3);
  EXPECT_EQ((mask > 0).sum().item<int64_t>(), 1489);
  EXPECT_EQ(mask.argmax().item<int64_t>(), 11 * 66 + 44);
  EXPECT_FLOAT_EQ(mask.max().item<float>(), 1.0f);
  const std::vector<std::tuple<int, int, double>> samples = {
      {10, 43, 0.9259430766105652}, {12, 40, 0.9503852725028992}, {5, 30, 0.21848545968532562},
      {15, 50, 0.663991391658783},  {2, 43, 0.28975749015808105}, {20, 43, 0.4989457130432129},
      {10, 28, 0.27555611729621887}, {10, 58, 0.23167884349822998}};
  for (const auto& [y, x, v] : samples) EXPECT_NEAR(mask[y][x].item<double>(), v, 1e-6) << y << "," << x;
  // Nothing left of column 17 (the window's left edge).
  EXPECT_EQ(mask.narrow(1, 0, 17).abs().sum().item<double>(), 0.0);
}

TEST(ImageMask, PeaksWhereTheSpatialWeightsPeakForEveryNeuron) {
  auto model = v1_model();
  auto readout = std::dynamic_pointer_cast<fovea::nn::Rank1Readout>(model->readout());
  torch::NoGradGuard no_grad;
  // Neuron 2 (not 0: the reference's bug) gets a receptive field elsewhere.
  readout->Wy[2][0].copy_(gaussian_row(kLy, 11.0, 1.2));
  readout->Wx[2][0].copy_(gaussian_row(kLx, 7.0, 1.8));
  readout->Wy[0][0].copy_(gaussian_row(kLy, 3.0, 1.2));
  readout->Wx[0][0].copy_(gaussian_row(kLx, 28.0, 1.8));
  const at::Tensor mask = image_mask(*readout, 2, 34, 66);
  const int64_t peak = mask.argmax().item<int64_t>();
  EXPECT_NEAR(static_cast<double>(peak / 66), 22.0, 2.0);  // 2 × 11
  EXPECT_NEAR(static_cast<double>(peak % 66), 14.0, 2.0);  // 2 × 7
  EXPECT_EQ(mask[6][56].item<float>(), 0.0f);              // neuron 0's field is outside
  EXPECT_GE(mask.min().item<float>(), 0.0f);
  EXPECT_LE(mask.max().item<float>(), 1.0f);
  // top_images returns the same mask.
  const auto r = top_images(*model, torch::randn({3, 1, 34, 66}), 2);
  EXPECT_TRUE(torch::equal(r.image_mask, mask));
}

TEST(TopImages, BadInputIsAnError) {
  auto model = v1_model();
  const at::Tensor images = torch::randn({4, 1, 34, 66});
  EXPECT_NE(error_of([&] { top_images(*model, images, 3); }).find("neuron 3 is out of range"), std::string::npos);
  EXPECT_NE(error_of([&] { top_images(*model, images, -1); }).find("out of range"), std::string::npos);
  EXPECT_NE(error_of([&] { top_images(*model, torch::randn({4, 1, 30, 66}), 0); }).find("the model takes"),
            std::string::npos);
  EXPECT_NE(error_of([&] { top_images(*model, torch::randn({66}), 0); }).find("images must be"), std::string::npos);
  Json ridge = {{"core", {{"type", "block_average"}, {"factor", 2}}},
                {"readout", {{"type", "ridge"}, {"n_neurons", 2}}},
                {"input_shape", {1, 34, 66}}};
  auto ridge_model = fovea::nn::build_model(ridge);
  EXPECT_NE(error_of([&] { top_images(*ridge_model, images, 0); }).find("not rank-1"), std::string::npos);
}

}  // namespace
