// Weight figures: every figure function writes PNG and SVG of its size, and
// a whole model's figures land in openretina's folder layout.
#include "fovea/viz/weight_figures.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <opencv2/imgcodecs.hpp>

#include "data/temp_dir.h"
#include "fovea/viz/evaluation_figures.h"
#include "fovea/viz/model_weights.h"
#include "fovea/viz/top_images_figure.h"
#include "fovea/viz/stimulus_figures.h"
#include "insilico/small_models.h"

namespace fs = std::filesystem;
using namespace fovea::viz;
using fovea::testing::TempDir;

namespace {
// Saves as PNG and SVG; checks the PNG's pixel size and that both are non-empty.
void expect_written(const Figure& fig, const TempDir& dir, const std::string& name) {
  const fs::path png = fs::path(dir.path()) / (name + ".png"), svg = fs::path(dir.path()) / (name + ".svg");
  fig.save(png);
  fig.save(svg);
  const cv::Mat img = cv::imread(png.string());
  ASSERT_FALSE(img.empty()) << name;
  EXPECT_EQ(img.cols, fig.width()) << name;
  EXPECT_EQ(img.rows, fig.height()) << name;
  EXPECT_GT(fs::file_size(svg), 1000u) << name;
  // Not a blank page: the figure has dark and coloured pixels, not only white.
  cv::Scalar mean = cv::mean(img);
  EXPECT_LT(mean[0] + mean[1] + mean[2], 3 * 254.0) << name;
}
}  // namespace

TEST(WeightFigures, EachFigureFunctionWritesPngAndSvg) {
  TempDir dir;
  torch::manual_seed(0);
  expect_written(separable_kernel_figure(torch::randn({7, 7}), torch::randn({11}), torch::randn({3}), torch::randn({3}),
                                         "layer 0: in 0 → out 1"),
                 dir, "separable");
  expect_written(spacetime_kernel_figure(torch::randn({9, 5, 5}), "full"), dir, "spacetime");
  expect_written(conv2d_filters_figure(torch::randn({16, 1, 13, 13}), "conv1"), dir, "filters");
  expect_written(mask_readout_figure(torch::rand({8, 6}), torch::randn({16}), "neuron 3"), dir, "mask");
  expect_written(rank1_readout_figure(torch::rand({10}), torch::rand({20}), torch::randn({32}), "neuron 0"), dir,
                 "rank1");
  expect_written(wc_matrix_figure(torch::randn({40, 1, 32}), true, "Wc"), dir, "wc");
  expect_written(stimulus_composition_figure(torch::randn({2, 40, 8, 6}), "MEI", 30.0), dir, "composition");
  expect_written(image_stimulus_figure(torch::randn({1, 20, 36}), "V1 MEI"), dir, "image");
  expect_written(metric_histogram_figure({0.1, 0.5, NAN, 0.7, 0.72}, "feve", "FEVE"), dir, "histogram");
  expect_written(model_comparison_figure({0.1, 0.5, 0.7}, {0.2, 0.4, 0.9}, "full", "mini", "feve"), dir, "scatter");
  expect_written(prediction_figure(torch::rand({80}), torch::rand({80}), "neuron 2", "frame"), dir, "prediction");
  expect_written(receptive_field_figure(torch::randn({11, 22}), "ridge RF"), dir, "rf");
  // The top-images figure of a small V1 model on random images.
  auto model = fovea::testing::v1_model();
  const at::Tensor images = torch::randn({40, 1, 20, 24});
  const auto top = fovea::insilico::top_images(*model, images, 1);
  expect_written(top_images_figure(top, images, "neuron 1"), dir, "top_images");
}

TEST(WeightFigures, SeparableFigureShowsTheSpatialKernelWhereItIs) {
  // A kernel positive in its left half only: the left of the spatial panel is red, its right white.
  TempDir dir;
  at::Tensor spatial = torch::zeros({8, 8});
  spatial.slice(1, 0, 4).fill_(1.0);
  const Figure fig = separable_kernel_figure(spatial, torch::ones({5}), {}, {}, "");
  const fs::path png = fs::path(dir.path()) / "k.png";
  fig.save(png);
  const cv::Mat img = cv::imread(png.string());
  // Find a strongly red and a pure white pixel along the middle row of the left panel.
  int red = 0;
  for (int x = 0; x < fig.width() / 2; ++x) {
    const cv::Vec3b p = img.at<cv::Vec3b>(fig.height() / 2, x);
    if (p[2] > 90 && p[0] < 60 && p[1] < 60) ++red;
  }
  EXPECT_GT(red, 20);
}

TEST(WeightFigures, RetinaModelFiguresFollowOpenretinasLayout) {
  TempDir dir;
  auto model = fovea::testing::retina_model();
  const int64_t expected = count_weight_figures(*model);
  int64_t drawn = 0;
  const auto figs = save_weight_visualizations(*model, dir.path(), "png", [&] { ++drawn; });
  // Layers (2→4, 4→4) give 8 + 16 channel figures and a filter grid each; sessions 5 + 3 neurons.
  EXPECT_EQ(expected, 8 + 16 + 2 + 5 + 3);
  EXPECT_EQ(drawn, expected);
  ASSERT_EQ(figs.layers.size(), 2u);
  EXPECT_EQ(figs.layers[0].name, "features.layer0");
  EXPECT_EQ(figs.layers[0].files.size(), 4u);     // out channels
  EXPECT_EQ(figs.layers[0].files[0].size(), 2u);  // in channels
  EXPECT_TRUE(fs::exists(fs::path(dir.path()) / "weights_core/weights_layer_0/1_3_.png"));
  EXPECT_TRUE(fs::exists(fs::path(dir.path()) / "weights_core/weights_layer_1/3_3_.png"));
  EXPECT_EQ(figs.layers[1].filters, "weights_core/weights_layer_1/filters.png");
  EXPECT_TRUE(fs::exists(fs::path(dir.path()) / figs.layers[1].filters));
  EXPECT_TRUE(fs::exists(fs::path(dir.path()) / "weights_readout/s1/neuron_4.png"));
  EXPECT_TRUE(fs::exists(fs::path(dir.path()) / "weights_readout/s2/neuron_2.png"));
  EXPECT_FALSE(fs::exists(fs::path(dir.path()) / "weights_readout/s2/neuron_3.png"));
  EXPECT_EQ(figs.neurons.at("s1").size(), 5u);
}

TEST(WeightFigures, V1ModelHasChannelFiguresAndTheWcMatrix) {
  TempDir dir;
  auto model = fovea::testing::v1_model();
  const auto figs = save_weight_visualizations(*model, dir.path(), "svg");
  ASSERT_EQ(figs.layers.size(), 2u);
  EXPECT_EQ(figs.layers[0].files.size(), 4u);
  EXPECT_EQ(figs.layers[1].files.size(), 6u);
  EXPECT_TRUE(fs::exists(fs::path(dir.path()) / "weights_core/weights_layer_1/5.svg"));
  EXPECT_TRUE(fs::exists(fs::path(dir.path()) / "weights_readout/readout/neuron_2.svg"));
  EXPECT_TRUE(fs::exists(fs::path(dir.path()) / "weights_readout/Wc_matrix.svg"));
}
