// Stimulus videos: written, read back with OpenCV, and checked for frame
// count, frame size, the reference's colour planes, upscaling and padding,
// the codec fallback, and errors that leave no file behind.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <opencv2/core.hpp>
#include <opencv2/videoio.hpp>

#include "fovea/error.h"
#include "fovea/viz/video.h"
#include "test_util.h"

namespace {

using fovea::viz::write_stimulus_video;
using fovea::viz::write_stimulus_video_with_codecs;

std::vector<cv::Mat> read_video(const std::string& path) {
  cv::VideoCapture capture(path, cv::CAP_FFMPEG);
  EXPECT_TRUE(capture.isOpened()) << path;
  std::vector<cv::Mat> frames;
  cv::Mat frame;
  while (capture.read(frame)) frames.push_back(frame.clone());
  return frames;
}

// Mean of one BGR plane over a rectangle.
double plane_mean(const cv::Mat& frame, int plane, cv::Rect region) {
  std::vector<cv::Mat> planes;
  cv::split(frame(region), planes);
  return cv::mean(planes[plane])[0];
}
double plane_mean(const cv::Mat& frame, int plane) { return plane_mean(frame, plane, {0, 0, frame.cols, frame.rows}); }

// Frame 0 is all 0 (the minimum); frame 1 + c has channel c at 1 (the
// maximum) and the others at 0; the last frame is all 0.5.
at::Tensor plane_probe(int64_t C, int64_t H, int64_t W) {
  at::Tensor s = torch::zeros({C, C + 2, H, W});
  for (int64_t c = 0; c < C; ++c) s[c][1 + c].fill_(1.0);
  s.select(1, C + 1).fill_(0.5);
  return s;
}

// The BGR planes the reference lights for data channel c of a C-channel stimulus.
std::vector<int> lit_planes(int64_t C, int64_t c) {
  if (C == 1) return {0, 1, 2};
  if (C == 2) return {c == 0 ? 1 : 2};
  return {static_cast<int>(c)};
}

class VideoPlanes : public ::testing::TestWithParam<std::tuple<int64_t, int>> {};

TEST_P(VideoPlanes, FramesSizesAndColourPlanesMatchTheReferenceMapping) {
  const auto [C, upscale] = GetParam();
  fovea::test::TempDir dir;
  const int64_t H = 18, W = 16;
  const std::string path = dir.file("stimulus.mp4");
  const auto info = write_stimulus_video(plane_probe(C, H, W), path, 5, upscale);
  EXPECT_TRUE(info.codec == "avc1" || info.codec == "mp4v") << info.codec;
  EXPECT_EQ(info.width, W * upscale);
  EXPECT_EQ(info.height, H * upscale);
  EXPECT_EQ(info.frames, C + 2);

  const auto frames = read_video(path);
  ASSERT_EQ(static_cast<int64_t>(frames.size()), C + 2);
  for (const auto& f : frames) {
    EXPECT_EQ(f.rows, H * upscale);
    EXPECT_EQ(f.cols, W * upscale);
  }
  for (int p = 0; p < 3; ++p) EXPECT_LT(plane_mean(frames[0], p), 20) << "frame 0 is the minimum: black";
  for (int64_t c = 0; c < C; ++c) {
    const auto lit = lit_planes(C, c);
    for (int p = 0; p < 3; ++p) {
      const double m = plane_mean(frames[1 + c], p);
      if (std::find(lit.begin(), lit.end(), p) != lit.end())
        EXPECT_GT(m, 215) << "channel " << c << " of " << C << ": plane " << p << " should be bright";
      else
        EXPECT_LT(m, 45) << "channel " << c << " of " << C << ": plane " << p << " should be dark";
    }
  }
  // 0.5 of the range -> trunc(127.5) = 127 in every plane the data reaches.
  const auto mid = lit_planes(C, 0);
  EXPECT_NEAR(plane_mean(frames[C + 1], mid[0]), 127, 12);
}

INSTANTIATE_TEST_SUITE_P(ChannelsAndUpscale, VideoPlanes,
                         ::testing::Combine(::testing::Values<int64_t>(1, 2, 3), ::testing::Values(1, 4)));

TEST(Video, UpscaleIsNearestNeighbourAndOddSizesArePaddedToEven) {
  fovea::test::TempDir dir;
  // 7 × 5 pixels, 3 times larger = 21 × 15, stored as 22 × 16. The left
  // 2 columns and the top 3 rows are bright, the rest dark.
  at::Tensor s = torch::zeros({1, 3, 7, 5});
  s.narrow(3, 0, 2).fill_(1.0);
  s.narrow(2, 0, 3).fill_(1.0);
  const std::string path = dir.file("odd.mp4");
  const auto info = write_stimulus_video(s, path, 5, 3);
  EXPECT_EQ(info.width, 16);
  EXPECT_EQ(info.height, 22);
  const auto frames = read_video(path);
  ASSERT_EQ(frames.size(), 3u);
  const cv::Mat& f = frames[1];
  ASSERT_EQ(f.rows, 22);
  ASSERT_EQ(f.cols, 16);
  // Interiors of blocks (away from block edges, where the codec blurs).
  EXPECT_GT(plane_mean(f, 1, {1, 12, 4, 8}), 215);   // x < 6: bright columns
  EXPECT_LT(plane_mean(f, 1, {8, 11, 6, 9}), 40);    // x ≥ 6, y ≥ 9: dark
  EXPECT_GT(plane_mean(f, 1, {8, 1, 6, 6}), 215);    // y < 9: bright rows
  // The padding repeats the last row and column (dark at the bottom right).
  EXPECT_LT(plane_mean(f, 1, {12, 19, 4, 3}), 40);
}

TEST(Video, FallsBackToTheNextCodecAndWritesMp4v) {
  fovea::test::TempDir dir;
  const std::string path = dir.file("fallback.mp4");
  const auto info = write_stimulus_video_with_codecs(plane_probe(2, 18, 16), path, 5, 2, {"zzzz", "mp4v"});
  EXPECT_EQ(info.codec, "mp4v");
  const auto frames = read_video(path);
  ASSERT_EQ(frames.size(), 4u);
  EXPECT_GT(plane_mean(frames[1], 1), 215);
  EXPECT_LT(plane_mean(frames[1], 2), 45);
}

TEST(Video, ReportsWhichCodecThisMachineUses) {
  fovea::test::TempDir dir;
  const auto info = write_stimulus_video(plane_probe(1, 18, 16), dir.file("codec.mp4"));
  // Informational: H.264 where OpenCV's FFmpeg has an encoder for it.
  std::cout << "[ video ] codec: " << info.codec << "\n";
  EXPECT_TRUE(info.codec == "avc1" || info.codec == "mp4v");
}

TEST(Video, ConstantStimulusIsBlack) {
  fovea::test::TempDir dir;
  const std::string path = dir.file("constant.mp4");
  write_stimulus_video(torch::full({2, 3, 8, 8}, 4.0), path);
  const auto frames = read_video(path);
  ASSERT_EQ(frames.size(), 3u);
  for (int p = 0; p < 3; ++p) EXPECT_LT(plane_mean(frames[2], p), 20);
}

void expect_error_naming(const std::function<void()>& f, const std::string& path, const std::string& text) {
  try {
    f();
    ADD_FAILURE() << "expected a fovea::Error about " << text;
  } catch (const fovea::Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find(text), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

TEST(Video, BadInputIsAnErrorNamingTheFileAndLeavesNothingBehind) {
  fovea::test::TempDir dir;
  const std::string path = dir.file("bad.mp4");
  {
    std::ofstream old(path);
    old << "old";
  }
  expect_error_naming([&] { write_stimulus_video(torch::zeros({3, 8, 8}), path); }, path, "dimensions");
  expect_error_naming([&] { write_stimulus_video(torch::zeros({4, 2, 8, 8}), path); }, path, "1 to 3 colour channels");
  expect_error_naming([&] { write_stimulus_video(torch::zeros({1, 0, 8, 8}), path); }, path, "no frames");
  expect_error_naming([&] { write_stimulus_video(torch::full({1, 2, 8, 8}, NAN), path); }, path, "NaN");
  expect_error_naming([&] { write_stimulus_video(torch::zeros({1, 2, 8, 8}), path, 5, 0); }, path, "upscale");
  expect_error_naming([&] { write_stimulus_video_with_codecs(torch::rand({1, 2, 8, 8}), path, 5, 1, {"zzzz"}); },
                      path, "cannot open a video writer");
  const std::string missing = dir.file("no/such/dir/x.mp4");
  expect_error_naming([&] { write_stimulus_video(torch::rand({1, 2, 8, 8}), missing); }, missing, "temporary file");
  // The existing file is untouched and no temporary file is left.
  std::ifstream in(path);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(content, "old");
  int entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++entries;
  EXPECT_EQ(entries, 1);
}

}  // namespace
