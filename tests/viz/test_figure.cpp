// Figure: every format is written at the requested size, colours land where
// the data says, and bad input leaves no file behind.
#include "fovea/viz/figure.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <regex>

#include "data/temp_dir.h"
#include "fovea/error.h"

namespace fs = std::filesystem;
using fovea::testing::TempDir;
using namespace fovea::viz;

namespace {

Figure example_figure() {
  Figure fig(640, 320);
  fig.set_title("example #1: µm");
  Panel& image = fig.add_panel(1, 2, 0, 0);
  image.title = "positive image";
  image.image = Heatmap{Grid2D(4, 6, std::vector<double>(24, 1.0)), Colormap::RdBu_r, -1.0, 1.0, true, "a.u."};
  image.axes = false;
  Panel& plot = fig.add_panel(1, 2, 0, 1);
  plot.title = "lines and bars";
  plot.xlabel = "time (s)";
  plot.ylabel = "value";
  plot.bars.push_back(Bars{{0, 1, 2}, {1, -0.5, 2}, colours::grey, {}, 0.8});
  plot.lines.push_back(Line{{0, 1, 2}, {0, 1, 0.5}, colours::red, 2, "trace"});
  plot.lines.push_back(Line{{0, 2}, {1, 1}, colours::blue, 1, "level", true});
  plot.texts.push_back(Text{0.1, 0.9, "note", colours::black});
  plot.legend = true;
  return fig;
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), {}};
}

}  // namespace

TEST(Figure, WritesPngSvgPdfAndJpegAtTheRequestedSize) {
  TempDir dir;
  const Figure fig = example_figure();
  for (const std::string ext : {"png", "jpg"}) {
    const fs::path path = fs::path(dir.path()) / ("figure." + ext);
    fig.save(path);
    const cv::Mat img = cv::imread(path.string(), cv::IMREAD_COLOR);
    ASSERT_FALSE(img.empty()) << ext;
    EXPECT_EQ(img.cols, 640) << ext;
    EXPECT_EQ(img.rows, 320) << ext;
  }
  const fs::path svg = fs::path(dir.path()) / "figure.svg";
  fig.save(svg);
  const std::string text = read_text(svg);
  EXPECT_NE(text.find("<svg"), std::string::npos);
  EXPECT_TRUE(std::regex_search(text, std::regex("width=\"640(pt)?\" height=\"320(pt)?\""))) << text.substr(0, 300);
  const fs::path pdf = fs::path(dir.path()) / "figure.pdf";
  fig.save(pdf);
  EXPECT_EQ(read_text(pdf).substr(0, 5), "%PDF-");
  // Nothing but the four figures: no temporary files left.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 4);
}

TEST(Figure, HeatmapColoursFollowTheColormap) {
  TempDir dir;
  // Left half +1 (red in RdBu_r), right half −1 (blue); one panel filling the page.
  std::vector<double> values(10 * 20);
  for (int r = 0; r < 10; ++r)
    for (int c = 0; c < 20; ++c) values[r * 20 + c] = c < 10 ? 1.0 : -1.0;
  Figure fig(400, 200);
  Panel& p = fig.add_panel(1, 1, 0, 0);
  p.image = Heatmap{Grid2D(10, 20, values), Colormap::RdBu_r};
  p.axes = false;
  const fs::path path = fs::path(dir.path()) / "map.png";
  fig.save(path);
  const cv::Mat img = cv::imread(path.string(), cv::IMREAD_COLOR);
  ASSERT_FALSE(img.empty());
  const cv::Vec3b left = img.at<cv::Vec3b>(100, 140), right = img.at<cv::Vec3b>(100, 260);  // BGR
  EXPECT_GT(left[2], 80);
  EXPECT_LT(left[0], 60);   // dark red: red dominates
  EXPECT_GT(right[0], 80);
  EXPECT_LT(right[2], 60);  // dark blue
}

TEST(Figure, BadInputIsAnErrorAndLeavesNoFile) {
  TempDir dir;
  Figure fig(200, 200);
  Panel& p = fig.add_panel(1, 1, 0, 0);
  p.lines.push_back(Line{{0, 1}, {0, std::nan("")}});
  const fs::path png = fs::path(dir.path()) / "nan.png";
  EXPECT_THROW(fig.save(png), fovea::Error);
  EXPECT_FALSE(fs::exists(png));
  EXPECT_THROW(example_figure().save(fs::path(dir.path()) / "figure.bmp"), fovea::Error);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 0);
  EXPECT_THROW(Figure(200, 200).add_panel(2, 2, 2, 0), fovea::Error);
  EXPECT_THROW(Grid2D(2, 2, {1.0}), fovea::Error);
}
