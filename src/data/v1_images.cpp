// minimodel's load_images: read the stimulus images, resize as cv2.resize
// (bilinear), crop the part of the screen that holds the receptive fields,
// and z-score with one global mean and std.
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <opencv2/imgproc.hpp>
#include <string>

#include "data/global_zscore.h"
#include "data/tensor_checks.h"
#include "fovea/data/v1_dataset.h"
#include "fovea/error.h"
#include "fovea/io/mat.h"
#include "fovea/io/npy.h"

namespace fovea::data {
namespace {

// Python's float `a // b` (CPython float_floor_div), so that sizes computed
// from a fractional downsample factor agree with minimodel's int(Lx//downsample).
double python_floordiv(double a, double b) {
  double mod = std::fmod(a, b);
  double div = (a - mod) / b;
  if (mod != 0.0 && ((b < 0) != (mod < 0))) div -= 1.0;
  if (div == 0.0) return std::copysign(0.0, a / b);
  double floordiv = std::floor(div);
  if (div - floordiv > 0.5) floordiv += 1.0;
  return floordiv;
}

std::string lower_extension(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext;
}

// The raw images as (N, Ly, Lx) in their stored dtype, C-contiguous.
at::Tensor read_raw_images(const std::string& path) {
  check(std::filesystem::exists(path), path, "file not found");
  const std::string ext = lower_extension(path);
  at::Tensor img;
  if (ext == ".mat") {
    img = io::read_mat_variable(path, "img");
    check(img.dim() == 3, path,
          "img has " + std::to_string(img.dim()) + " dimensions, expected 3 (Ly, Lx, images)");
    img = img.permute({2, 0, 1});  // MATLAB's (Ly, Lx, N) -> (N, Ly, Lx), as np.transpose(img, (2,0,1))
  } else if (ext == ".npy") {
    img = io::read_npy(path);
    check(img.dim() == 3, path,
          "the images have " + std::to_string(img.dim()) + " dimensions, expected 3 (images, Ly, Lx)");
  } else {
    fail(path, "unsupported image file type '" + ext + "', expected .mat (variable img) or .npy");
  }
  check(img.size(0) > 0 && img.size(1) > 0 && img.size(2) > 0, path,
        "the images are empty (" + shape_string(img) + ")");
  check(img.scalar_type() != at::kBool && !at::isComplexType(img.scalar_type()), path,
        "the images must be numeric, got dtype " + std::string(c10::toString(img.scalar_type())));
  return img.contiguous();
}

// Resizes every image as cv2.resize(im, (width, height)) with INTER_LINEAR.
at::Tensor resize_images(const at::Tensor& images, int64_t height, int64_t width) {
  const int64_t n = images.size(0), ly = images.size(1), lx = images.size(2);
  if (height == ly && width == lx) return images;  // cv2.resize copies when the size is unchanged
  at::Tensor out = at::empty({n, height, width}, images.options());
  const float* src = images.data_ptr<float>();
  float* dst = out.data_ptr<float>();
  at::parallel_for(0, n, 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      cv::Mat in(static_cast<int>(ly), static_cast<int>(lx), CV_32F, const_cast<float*>(src + i * ly * lx));
      cv::Mat resized(static_cast<int>(height), static_cast<int>(width), CV_32F, dst + i * height * width);
      cv::resize(in, resized, resized.size(), 0, 0, cv::INTER_LINEAR);
    }
  });
  return out;
}

}  // namespace

int64_t downsampled_size(int64_t n, double downsample) {
  check(std::isfinite(downsample) && downsample > 0.0, "downsample",
        "must be a positive number, got " + std::to_string(downsample));
  return static_cast<int64_t>(python_floordiv(static_cast<double>(n), downsample));
}

at::Tensor load_images(const std::string& path, int crop_x0, int crop_x1, double downsample, bool normalize) {
  at::Tensor raw = read_raw_images(path);
  check_finite(raw, path, "the images");
  const int64_t ly = raw.size(1), lx = raw.size(2);
  const int64_t height = downsampled_size(ly, downsample), width = downsampled_size(lx, downsample);
  check(height > 0 && width > 0, path,
        "downsample " + std::to_string(downsample) + " shrinks the " + std::to_string(ly) + "x" + std::to_string(lx) +
            " images to nothing");
  // The float32 copy is made before resizing, as minimodel's astype('float32').
  at::Tensor images = resize_images(raw.to(at::kFloat).contiguous(), height, width);

  // Python slicing img[:, :, x0:x1] clips both ends to the width.
  check(crop_x0 >= 0 && crop_x1 > crop_x0, path,
        "crop [" + std::to_string(crop_x0) + ", " + std::to_string(crop_x1) + ") is not a valid x range");
  const int64_t x0 = std::min(width, downsampled_size(crop_x0, downsample));
  const int64_t x1 = std::min(width, downsampled_size(crop_x1, downsample));
  check(x1 > x0, path,
        "crop [" + std::to_string(crop_x0) + ", " + std::to_string(crop_x1) + ") leaves no columns of the " +
            std::to_string(width) + "-pixel-wide (resized) images");
  if (x0 != 0 || x1 != width) images = images.slice(2, x0, x1).contiguous();

  if (normalize) zscore_globally(images);
  return images;
}

}  // namespace fovea::data
