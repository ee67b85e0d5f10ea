// Stimulus videos (openretina's save_stimulus_to_mp4_video), written
// atomically: a temporary .mp4 next to the target, renamed into place.
#include "fovea/viz/video.h"

#include <fcntl.h>
#include <unistd.h>

#include <ATen/ATen.h>
#include <cerrno>
#include <cstring>
#include <opencv2/core.hpp>
#include <opencv2/videoio.hpp>
#include <random>
#include <system_error>

#include "fovea/error.h"

namespace fovea::viz {
namespace {

namespace fs = std::filesystem;

// A fresh name next to `target` that still ends in ".mp4": OpenCV's FFmpeg
// writer picks the container from the extension, so the usual "name.tmp.N"
// scheme of io::AtomicOutput cannot be used. The file is created with O_EXCL
// so that no other writer takes the same name; the video writer overwrites it.
// Removed on destruction unless released.
class TempVideo {
 public:
  explicit TempVideo(const fs::path& target) : target_(target) {
    const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
    std::random_device rd;
    for (int attempt = 0; attempt < 100; ++attempt) {
      const fs::path candidate = dir / ("." + target.stem().string() + ".tmp." + std::to_string(::getpid()) + "." +
                                        std::to_string(rd()) + ".mp4");
      const int fd = ::open(candidate.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
      if (fd >= 0) {
        ::close(fd);
        path_ = candidate;
        return;
      }
      if (errno != EEXIST)
        fail(target.string(), "cannot create a temporary file in '" + dir.string() + "': " + std::strerror(errno));
    }
    fail(target.string(), "cannot find an unused temporary file name in '" + dir.string() + "'");
  }
  ~TempVideo() {
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  TempVideo(const TempVideo&) = delete;
  TempVideo& operator=(const TempVideo&) = delete;

  const fs::path& path() const { return path_; }
  void rename_into_place() {
    std::error_code ec;
    fs::rename(path_, target_, ec);
    if (ec) fail(target_.string(), "cannot rename the temporary video into place: " + ec.message());
    path_.clear();
  }

 private:
  fs::path target_, path_;
};

// The reference's scaling: 255 · (s − min) / max(s − min), truncated to uint8,
// computed in the stimulus's own float type (float32 or float64).
at::Tensor to_uint8(const at::Tensor& stimulus) {
  at::Tensor s = stimulus.detach().to(at::kCPU);
  if (s.scalar_type() != at::kDouble) s = s.to(at::kFloat);
  s = s - s.min();
  const at::Tensor range = s.max();
  if (range.item<double>() == 0.0) return at::zeros(s.sizes(), s.options().dtype(at::kByte));
  return (255 * (s / range)).to(at::kByte).contiguous();
}

// One BGR frame: the reference's plane assignment, each source pixel an
// upscale×upscale block, an odd last row/column repeated to reach even sizes.
cv::Mat make_frame(const uint8_t* data, int64_t C, int64_t T, int64_t H, int64_t W, int64_t t, int upscale, int out_h,
                   int out_w) {
  cv::Mat frame(out_h, out_w, CV_8UC3, cv::Scalar(0, 0, 0));
  const int64_t plane = T * H * W;
  const uint8_t* base = data + t * H * W;
  for (int yo = 0; yo < out_h; ++yo) {
    const int64_t y = std::min<int64_t>(yo, H * upscale - 1) / upscale;
    auto* row = frame.ptr<cv::Vec3b>(yo);
    for (int xo = 0; xo < out_w; ++xo) {
      const int64_t x = std::min<int64_t>(xo, W * upscale - 1) / upscale;
      const int64_t i = y * W + x;
      cv::Vec3b& px = row[xo];
      if (C == 1) {
        px = cv::Vec3b(base[i], base[i], base[i]);
      } else if (C == 2) {
        px = cv::Vec3b(0, base[i], base[plane + i]);
      } else {
        px = cv::Vec3b(base[i], base[plane + i], base[2 * plane + i]);
      }
    }
  }
  return frame;
}

int fourcc_of(const std::string& code, const fs::path& mp4) {
  check(code.size() == 4, mp4.string(), "a video codec must be a FourCC of 4 letters, got '" + code + "'");
  return cv::VideoWriter::fourcc(code[0], code[1], code[2], code[3]);
}

}  // namespace

VideoInfo write_stimulus_video_with_codecs(const at::Tensor& stimulus, const fs::path& mp4, double fps, int upscale,
                                           const std::vector<std::string>& codecs) {
  const std::string where = mp4.string();
  check(stimulus.defined() && stimulus.dim() == 4, where,
        "a stimulus video needs a (channels, time, height, width) stimulus, got " +
            (stimulus.defined() ? std::to_string(stimulus.dim()) + " dimensions" : std::string("no tensor")));
  const int64_t C = stimulus.size(0), T = stimulus.size(1), H = stimulus.size(2), W = stimulus.size(3);
  check(C >= 1 && C <= 3, where, "a stimulus video shows 1 to 3 colour channels, got " + std::to_string(C));
  check(T >= 1 && H >= 1 && W >= 1, where, "the stimulus has no frames or no pixels");
  check(!stimulus.is_complex(), where, "the stimulus must be real, not complex");
  check(upscale >= 1, where, "upscale must be at least 1, got " + std::to_string(upscale));
  check(fps > 0, where, "fps must be positive");
  check(!codecs.empty(), where, "no video codec to try");
  check(at::isfinite(stimulus.detach().to(at::kCPU).to(at::kDouble)).all().item<bool>(), where,
        "the stimulus has NaN or infinite values");
  const int64_t up_h = H * upscale, up_w = W * upscale;
  check(up_h < (1 << 15) && up_w < (1 << 15), where, "the upscaled frame is too large");
  const int out_h = static_cast<int>(up_h + up_h % 2), out_w = static_cast<int>(up_w + up_w % 2);

  const at::Tensor pixels = to_uint8(stimulus);
  TempVideo temp(mp4);
  cv::VideoWriter writer;
  std::string opened;
  // FFmpeg first (its mp4 muxer is what the reference uses); any other
  // backend OpenCV has only if FFmpeg cannot open.
  for (int api : {static_cast<int>(cv::CAP_FFMPEG), static_cast<int>(cv::CAP_ANY)}) {
    for (const auto& code : codecs) {
      try {
        if (writer.open(temp.path().string(), api, fourcc_of(code, mp4), fps, cv::Size(out_w, out_h), true)) {
          opened = code;
          break;
        }
      } catch (const cv::Exception&) {
        // A backend that rejects the codec by throwing: try the next one.
      }
    }
    if (!opened.empty()) break;
  }
  if (opened.empty()) {
    std::string tried;
    for (const auto& c : codecs) tried += (tried.empty() ? "" : ", ") + c;
    fail(where, "OpenCV cannot open a video writer (codecs tried: " + tried + ")");
  }
  const uint8_t* data = pixels.data_ptr<uint8_t>();
  for (int64_t t = 0; t < T; ++t) writer.write(make_frame(data, C, T, H, W, t, upscale, out_h, out_w));
  writer.release();
  std::error_code ec;
  const auto size = fs::file_size(temp.path(), ec);
  check(!ec && size > 0, where, "the video writer produced no data");
  temp.rename_into_place();
  return VideoInfo{opened, out_w, out_h, static_cast<int>(T)};
}

VideoInfo write_stimulus_video(const at::Tensor& stimulus, const fs::path& mp4, double fps, int upscale) {
  return write_stimulus_video_with_codecs(stimulus, mp4, fps, upscale, {"avc1", "mp4v"});
}

}  // namespace fovea::viz
