#include "data/retina_movies.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "data/natural_images.h"
#include "data/seeded_streams.h"

namespace fovea::data {
namespace {

constexpr double kPi = 3.14159265358979323846;
// Drift of the natural scenes: velocity AR(1) coefficient per frame and the
// innovation (pixels per frame at the 16-pixel reference size). The
// stationary speed std is kDriftStep / sqrt(1 - kDriftPersistence^2), about
// 0.34 px per frame: a centre of one pixel sees new content every few frames.
constexpr double kDriftPersistence = 0.9;
constexpr double kDriftStep = 0.15;
constexpr double kReferenceSize = 16.0;

// Standard normal from two uniforms (Box-Muller): unlike
// std::normal_distribution, the same numbers with every standard library.
double standard_normal(std::mt19937_64& rng) {
  const double u = 1.0 - uniform(rng);  // (0, 1]
  return std::sqrt(-2.0 * std::log(u)) * std::cos(2.0 * kPi * uniform(rng));
}

// Bilinear sample of a (h, w) image at (y, x), inside [0, h-1] x [0, w-1].
double bilinear(const float* image, int64_t w, double y, double x) {
  const int64_t y0 = static_cast<int64_t>(std::floor(y)), x0 = static_cast<int64_t>(std::floor(x));
  const double fy = y - static_cast<double>(y0), fx = x - static_cast<double>(x0);
  auto pixel = [&](int64_t yy, int64_t xx) { return static_cast<double>(image[yy * w + xx]); };
  const int64_t y1 = fy > 0.0 ? y0 + 1 : y0, x1 = fx > 0.0 ? x0 + 1 : x0;
  return (1 - fy) * ((1 - fx) * pixel(y0, x0) + fx * pixel(y0, x1)) +
         fy * ((1 - fx) * pixel(y1, x0) + fx * pixel(y1, x1));
}

// Moves a coordinate by its velocity inside [0, limit], reflecting at the edges.
void drift(double& position, double& velocity, double limit) {
  position += velocity;
  if (limit <= 0.0) {
    position = 0.0;
    return;
  }
  while (position < 0.0 || position > limit) {
    if (position < 0.0) position = -position;
    if (position > limit) position = 2.0 * limit - position;
    velocity = -velocity;
  }
}

}  // namespace

at::Tensor correlated_noise_movie(int64_t colors, int64_t frames, int64_t height, int64_t width, uint64_t seed,
                                  uint64_t part) {
  std::mt19937_64 rng = make_stream(seed, Stream::images, part);
  const int64_t pixels = height * width;
  const double rho = std::exp(-1.0 / kNoiseTimeConstant), innovation = std::sqrt(1.0 - rho * rho);
  const double a = kNoiseChannelCorrelation, b = std::sqrt(1.0 - a * a);
  at::Tensor movie = at::empty({colors, frames, height, width}, at::kFloat);
  float* out = movie.data_ptr<float>();
  std::vector<double> state(static_cast<size_t>(colors * pixels)), shock(static_cast<size_t>(colors));
  for (int64_t t = 0; t < frames; ++t)
    for (int64_t p = 0; p < pixels; ++p) {
      for (int64_t c = 0; c < colors; ++c) shock[c] = standard_normal(rng);
      for (int64_t c = 1; c < colors; ++c) shock[c] = a * shock[0] + b * shock[c];
      for (int64_t c = 0; c < colors; ++c) {
        double& s = state[c * pixels + p];
        s = t == 0 ? shock[c] : rho * s + innovation * shock[c];
        out[(c * frames + t) * pixels + p] = static_cast<float>(s);
      }
    }
  return movie;
}

at::Tensor moving_natural_movie(int64_t colors, int64_t frames, int64_t height, int64_t width, uint64_t seed,
                                uint64_t part) {
  const int64_t margin = std::max(height, width) / 2;
  const int64_t big_h = height + 2 * margin, big_w = width + 2 * margin;
  const int64_t scenes = (frames + kSceneFrames - 1) / kSceneFrames;
  // One image per scene and channel; a seed of their own per movie part.
  std::mt19937_64 image_seeds = make_stream(seed, Stream::images, 100 + part);
  const at::Tensor images = natural_like_images(scenes * colors, big_h, big_w, image_seeds()).contiguous();
  const float* img = images.data_ptr<float>();
  std::mt19937_64 rng = make_stream(seed, Stream::images, 200 + part);
  const double speed_scale = static_cast<double>(std::min(height, width)) / kReferenceSize;
  const double rho = kNaturalChannelCorrelation, other = std::sqrt(1.0 - rho * rho);
  at::Tensor movie = at::empty({colors, frames, height, width}, at::kFloat);
  float* out = movie.data_ptr<float>();
  const double limit_y = static_cast<double>(big_h - height), limit_x = static_cast<double>(big_w - width);
  double py = 0, px = 0, vy = 0, vx = 0;
  for (int64_t t = 0; t < frames; ++t) {
    const int64_t scene = t / kSceneFrames;
    if (t % kSceneFrames == 0) {  // a cut: a new scene, a new place, a new drift
      py = uniform(rng, 0.0, limit_y);
      px = uniform(rng, 0.0, limit_x);
      const double stationary = kDriftStep / std::sqrt(1.0 - kDriftPersistence * kDriftPersistence);
      vy = stationary * speed_scale * standard_normal(rng);
      vx = stationary * speed_scale * standard_normal(rng);
    } else {
      vy = kDriftPersistence * vy + kDriftStep * speed_scale * standard_normal(rng);
      vx = kDriftPersistence * vx + kDriftStep * speed_scale * standard_normal(rng);
      drift(py, vy, limit_y);
      drift(px, vx, limit_x);
    }
    const float* base = img + scene * colors * big_h * big_w;
    for (int64_t y = 0; y < height; ++y)
      for (int64_t x = 0; x < width; ++x) {
        const double yy = py + static_cast<double>(y), xx = px + static_cast<double>(x);
        const double first = bilinear(base, big_w, yy, xx);
        out[(0 * frames + t) * height * width + y * width + x] = static_cast<float>(first);
        for (int64_t c = 1; c < colors; ++c) {
          const double own = bilinear(base + c * big_h * big_w, big_w, yy, xx);
          out[(c * frames + t) * height * width + y * width + x] = static_cast<float>(rho * first + other * own);
        }
      }
  }
  return movie;
}

}  // namespace fovea::data
