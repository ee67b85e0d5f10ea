#include "data/natural_images.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "data/global_zscore.h"
#include "data/seeded_streams.h"

namespace fovea::data {
namespace {

constexpr double kPi = 3.14159265358979323846;
// Sizes are given for minimodel's 66x130 images and scale with the image.
constexpr double kReferenceSize = 66.0;
// Amplitude spectrum 1/f^alpha; natural images have alpha close to 1.
constexpr double kSpectrumExponent = 1.0;
// Weights of the two components after each is standardised: edges from the
// leaves dominate, the noise adds texture inside them.
constexpr double kLeavesWeight = 0.8;
constexpr double kNoiseWeight = 0.5;
// Images processed per FFT batch: bounds the memory at any n.
constexpr int64_t kChunk = 256;

// Dead leaves, painted back to front so that later leaves occlude earlier
// ones: ellipses of random orientation and aspect, radii from p(r) ~ r^-3
// (scale invariance), uniform grey levels.
void paint_dead_leaves(std::mt19937_64& rng, int64_t h, int64_t w, double* canvas) {
  const double scale = static_cast<double>(std::min(h, w)) / kReferenceSize;
  const double r_min = 2.5 * scale, r_max = std::max(r_min, 0.6 * static_cast<double>(std::min(h, w)));
  const int64_t n_leaves = std::max<int64_t>(
      16, static_cast<int64_t>(std::lround(400.0 * static_cast<double>(h * w) / (66.0 * 130.0) / (scale * scale))));
  std::fill(canvas, canvas + h * w, uniform(rng));
  const double a = 1.0 / (r_min * r_min), b = 1.0 / (r_max * r_max);
  for (int64_t leaf = 0; leaf < n_leaves; ++leaf) {
    const double radius = 1.0 / std::sqrt(a - uniform(rng) * (a - b));  // inverse CDF of r^-3
    const double minor = radius * uniform(rng, 0.35, 1.0);
    const double angle = uniform(rng, 0.0, kPi);
    const double cx = uniform(rng, -0.1 * w, 1.1 * w), cy = uniform(rng, -0.1 * h, 1.1 * h);
    const double grey = uniform(rng);
    const double c = std::cos(angle), s = std::sin(angle);
    // The ellipse's bounding box, and reciprocals to keep divisions out of the pixel loop.
    const double half_w = std::sqrt(radius * radius * c * c + minor * minor * s * s);
    const double half_h = std::sqrt(radius * radius * s * s + minor * minor * c * c);
    const double inv_major = 1.0 / radius, inv_minor = 1.0 / minor;
    const int64_t y0 = std::max<int64_t>(0, static_cast<int64_t>(std::floor(cy - half_h)));
    const int64_t y1 = std::min<int64_t>(h - 1, static_cast<int64_t>(std::ceil(cy + half_h)));
    const int64_t x0 = std::max<int64_t>(0, static_cast<int64_t>(std::floor(cx - half_w)));
    const int64_t x1 = std::min<int64_t>(w - 1, static_cast<int64_t>(std::ceil(cx + half_w)));
    for (int64_t y = y0; y <= y1; ++y) {
      const double dy = static_cast<double>(y) - cy;
      for (int64_t x = x0; x <= x1; ++x) {
        const double dx = static_cast<double>(x) - cx;
        const double u = (dx * c + dy * s) * inv_major, v = (-dx * s + dy * c) * inv_minor;
        if (u * u + v * v <= 1.0) canvas[y * w + x] = grey;
      }
    }
  }
}

// Subtracts the mean and divides by the std (when it is not zero).
template <typename T>
void standardise(T* x, int64_t n) {
  double mean = 0.0;
  for (int64_t i = 0; i < n; ++i) mean += x[i];
  mean /= static_cast<double>(n);
  double var = 0.0;
  for (int64_t i = 0; i < n; ++i) var += (x[i] - mean) * (x[i] - mean);
  const double std = std::sqrt(var / static_cast<double>(n));
  for (int64_t i = 0; i < n; ++i) x[i] = static_cast<T>(std > 0.0 ? (x[i] - mean) / std : x[i] - mean);
}

// The smallest m >= n whose only prime factors are 2, 3 and 5: FFTs of such
// sizes are several times faster than of 66 = 2*3*11 or 130 = 2*5*13.
int64_t fast_fft_size(int64_t n) {
  for (int64_t m = n;; ++m) {
    int64_t r = m;
    for (int64_t p : {2, 3, 5})
      while (r % p == 0) r /= p;
    if (r == 1) return m;
  }
}

// 1/f^alpha amplitude on the rfft2 grid of an h x w image, zero at DC.
at::Tensor pink_amplitude(int64_t h, int64_t w) {
  auto opts = at::TensorOptions().dtype(at::kFloat);
  at::Tensor fy = at::fft_fftfreq(h, 1.0, opts).unsqueeze(1);
  at::Tensor fx = at::fft_rfftfreq(w, 1.0, opts).unsqueeze(0);
  at::Tensor amplitude = (fy * fy + fx * fx).sqrt().pow(-kSpectrumExponent);
  amplitude.index_put_({0, 0}, 0.0);
  return amplitude;
}

}  // namespace

at::Tensor natural_like_images(int64_t n, int64_t height, int64_t width, uint64_t seed) {
  const int64_t pixels = height * width;
  // The noise is made on a larger grid of fast FFT sizes and cropped, which
  // also keeps it from wrapping around at the image edges.
  const int64_t noise_h = fast_fft_size(height + height / 8), noise_w = fast_fft_size(width + width / 8);
  const at::Tensor amplitude = pink_amplitude(noise_h, noise_w);
  at::Tensor images = at::empty({n, height, width}, at::kFloat);
  for (int64_t start = 0; start < n; start += kChunk) {
    const int64_t count = std::min(kChunk, n - start);
    at::Tensor leaves = at::empty({count, height, width}, at::kDouble);
    // White complex Gaussian coefficients: the spectrum of white noise, drawn
    // directly in the frequency domain to save the forward transform.
    at::Tensor coefficients = at::empty({count, amplitude.size(0), amplitude.size(1), 2}, at::kFloat);
    std::vector<double> contrast(count);
    double* leaves_ptr = leaves.data_ptr<double>();
    at::parallel_for(0, count, 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        std::mt19937_64 rng = make_stream(seed, Stream::images, static_cast<uint64_t>(start + i));
        contrast[i] = uniform(rng, 0.6, 1.4);  // natural scenes differ in contrast
        paint_dead_leaves(rng, height, width, leaves_ptr + i * pixels);
        at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(rng());
        coefficients[i].normal_(0.0, 1.0, gen);
      }
    });
    at::Tensor spectrum = at::view_as_complex(coefficients) * amplitude;
    at::Tensor noise = at::fft_irfft2(spectrum, at::IntArrayRef{noise_h, noise_w})
                           .slice(1, 0, height)
                           .slice(2, 0, width)
                           .contiguous();
    float* noise_ptr = noise.data_ptr<float>();
    float* out = images.data_ptr<float>() + start * pixels;
    at::parallel_for(0, count, 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        standardise(leaves_ptr + i * pixels, pixels);
        standardise(noise_ptr + i * pixels, pixels);
        for (int64_t p = 0; p < pixels; ++p)
          out[i * pixels + p] = static_cast<float>(
              contrast[i] * (kLeavesWeight * leaves_ptr[i * pixels + p] + kNoiseWeight * noise_ptr[i * pixels + p]));
      }
    });
  }
  zscore_globally(images);  // one z-score over the whole set, as minimodel normalises its images
  return images;
}

}  // namespace fovea::data
