// Top images of a V1 neuron and of its readout channels, and minimodel's
// receptive-field mask (utils.get_image_mask, weight_bandwidth).
#include "fovea/insilico/top_images.h"

#include <ATen/ATen.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <string>

#include "fovea/error.h"
#include "fovea/nn/predict.h"
#include "fovea/nn/v1_readouts.h"

namespace fovea::insilico {
namespace {

const char* kWhere = "top images";

// Indices of `values` (a 1-D float32 CPU tensor) by value, highest first;
// equal values keep their index order.
std::vector<int64_t> order_descending(const at::Tensor& values) {
  const at::Tensor v = values.to(at::kCPU, at::kFloat).contiguous();
  const float* p = v.data_ptr<float>();
  std::vector<int64_t> order(static_cast<size_t>(v.numel()));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [p](int64_t a, int64_t b) { return p[a] > p[b]; });
  return order;
}

std::vector<int64_t> first(const std::vector<int64_t>& v, int64_t n) {
  return {v.begin(), v.begin() + std::min<int64_t>(n, static_cast<int64_t>(v.size()))};
}

// scipy.ndimage.gaussian_filter1d(w, sigma, truncate) with mode 'reflect'
// (d c b a | a b c d | d c b a, repeated for kernels longer than the signal).
std::vector<double> gaussian_filter_reflect(const std::vector<double>& w, double sigma, double truncate) {
  const int64_t n = static_cast<int64_t>(w.size());
  const int64_t radius = static_cast<int64_t>(truncate * sigma + 0.5);
  std::vector<double> kernel(2 * radius + 1);
  double total = 0;
  for (int64_t k = -radius; k <= radius; ++k) {
    kernel[k + radius] = std::exp(-0.5 / (sigma * sigma) * static_cast<double>(k * k));
    total += kernel[k + radius];
  }
  for (double& k : kernel) k /= total;
  auto reflect = [n](int64_t j) {
    int64_t m = ((j % (2 * n)) + 2 * n) % (2 * n);
    return m >= n ? 2 * n - 1 - m : m;
  };
  std::vector<double> out(n, 0.0);
  for (int64_t i = 0; i < n; ++i) {
    double s = 0;
    for (int64_t k = -radius; k <= radius; ++k) s += kernel[k + radius] * w[reflect(i + k)];
    out[i] = s;
  }
  return out;
}

std::vector<double> row_of(const at::Tensor& weights, int64_t neuron) {
  const at::Tensor row = weights.detach().select(0, neuron).reshape({-1}).to(at::kCPU, at::kDouble).contiguous();
  return {row.data_ptr<double>(), row.data_ptr<double>() + row.numel()};
}

}  // namespace

Bandwidth weight_bandwidth(const std::vector<double>& w_in) {
  check(!w_in.empty(), "weight_bandwidth", "needs at least one weight");
  const int64_t nx = static_cast<int64_t>(w_in.size()), nnew = 2 * nx;
  // np.interp(np.linspace(0, nx − 1, 2·nx), arange(nx), w)
  std::vector<double> w(nnew);
  const double step = static_cast<double>(nx - 1) / static_cast<double>(nnew - 1);
  for (int64_t i = 0; i < nnew; ++i) {
    const double x = i == nnew - 1 ? static_cast<double>(nx - 1) : static_cast<double>(i) * step;
    const int64_t j = std::min<int64_t>(static_cast<int64_t>(std::floor(x)), nx - 1);
    if (j >= nx - 1) {
      w[i] = w_in[nx - 1];
    } else {
      const double slope = w_in[j + 1] - w_in[j];
      w[i] = slope * (x - static_cast<double>(j)) + w_in[j];
    }
  }
  w = gaussian_filter_reflect(w, 3.0, 10.0);
  const int64_t peak = std::max_element(w.begin(), w.end()) - w.begin();  // first maximum, as np.argmax
  const double half = w[peak] / 2;
  auto closest = [&](int64_t from, int64_t to) {  // np.argmin(|w[from:to] − half|) + from
    int64_t best = from;
    for (int64_t i = from + 1; i < to; ++i)
      if (std::abs(w[i] - half) < std::abs(w[best] - half)) best = i;
    return best;
  };
  const int64_t left = peak > 0 ? closest(0, peak) : 0;
  const int64_t right = closest(peak, nnew);
  const double n = static_cast<double>(nx), nn = static_cast<double>(nnew);
  return {static_cast<double>(right - left) * n / nn, static_cast<double>(right + left) * n / nn / 2};
}

at::Tensor image_mask(const nn::Rank1Readout& readout, int64_t neuron, int64_t height, int64_t width) {
  check(neuron >= 0 && neuron < readout.Wy.size(0), "image mask",
        "neuron " + std::to_string(neuron) + " is out of range (the readout has " + std::to_string(readout.Wy.size(0)) +
            " neurons)");
  check(height >= 1 && width >= 1, "image mask", "the image size must be positive");
  const std::vector<double> wy = row_of(readout.Wy, neuron), wx = row_of(readout.Wx, neuron);
  const int64_t Ly = static_cast<int64_t>(wy.size()), Lx = static_cast<int64_t>(wx.size());
  const Bandwidth by = weight_bandwidth(wy), bx = weight_bandwidth(wx);

  // Wy ⊗ Wx / max|·| in float32 (the reference's dtype).
  cv::Mat wxy(static_cast<int>(Ly), static_cast<int>(Lx), CV_32F);
  float abs_max = 0;
  for (int64_t y = 0; y < Ly; ++y)
    for (int64_t x = 0; x < Lx; ++x) {
      const float v = static_cast<float>(wy[y]) * static_cast<float>(wx[x]);
      wxy.at<float>(static_cast<int>(y), static_cast<int>(x)) = v;
      abs_max = std::max(abs_max, std::abs(v));
    }
  at::Tensor out = at::zeros({height, width}, at::kFloat);
  if (abs_max == 0) return out;  // no receptive field to show
  wxy /= abs_max;

  // Crop center ± ⌊bandwidth⌋ (Python: int(c − bw // 1), int(c + bw // 1 + 1), clipped).
  auto crop = [](const Bandwidth& b, int64_t limit) {
    const int64_t start = std::clamp<int64_t>(static_cast<int64_t>(std::trunc(b.center - std::floor(b.bandwidth))), 0,
                                              limit - 1);
    const int64_t end =
        std::min<int64_t>(static_cast<int64_t>(std::trunc(b.center + std::floor(b.bandwidth) + 1)), limit);
    return std::make_pair(start, std::max(end, start + 1));
  };
  const auto [y0, y1] = crop(by, Ly);
  const auto [x0, x1] = crop(bx, Lx);
  const cv::Mat cut = wxy(cv::Range(static_cast<int>(y0), static_cast<int>(y1)),
                          cv::Range(static_cast<int>(x0), static_cast<int>(x1)));

  // The reference's fixed ×2: the image-to-feature-map scale of its models.
  const double sy = static_cast<double>(height) / static_cast<double>(Ly);
  const double sx = static_cast<double>(width) / static_cast<double>(Lx);
  const int adjust = 25;
  const int up_h = static_cast<int>(std::lround(cut.rows * sy)) + adjust;
  const int up_w = static_cast<int>(std::lround(cut.cols * sx)) + adjust;
  cv::Mat up;
  cv::resize(cut, up, cv::Size(up_w, up_h), 0, 0, cv::INTER_LINEAR);
  double lo = 0, hi = 0;
  cv::minMaxLoc(up, &lo, &hi);
  if (hi > lo) {
    up = (up - static_cast<float>(lo)) / static_cast<float>(hi - lo);
  } else {
    up.setTo(1.0f);
  }
  cv::Mat ellipse = cv::Mat::zeros(up.size(), CV_32F);
  cv::ellipse(ellipse, cv::Point(up_w / 2, up_h / 2), cv::Size(up_w / 2, up_h / 2), 0, 0, 360, cv::Scalar(1), -1);
  up = up.mul(ellipse);

  // Paste centred at scale·center (Python int() truncation), clipped to the image.
  const int64_t top = static_cast<int64_t>(std::trunc(by.center * sy - static_cast<double>(up_h / 2)));
  const int64_t left = static_cast<int64_t>(std::trunc(bx.center * sx - static_cast<double>(up_w / 2)));
  float* o = out.data_ptr<float>();
  for (int r = 0; r < up_h; ++r) {
    const int64_t y = top + r;
    if (y < 0 || y >= height) continue;
    const float* src = up.ptr<float>(r);
    for (int c = 0; c < up_w; ++c) {
      const int64_t x = left + c;
      if (x >= 0 && x < width) o[y * width + x] = src[c];
    }
  }
  return out;
}

TopImages top_images(nn::Model& model, const at::Tensor& images_in, int64_t neuron, const TopImagesOptions& options) {
  auto readout = std::dynamic_pointer_cast<nn::Rank1Readout>(model.readout());
  if (!readout)
    fail(kWhere, "the model's readout is not rank-1 (minimodel's Wy ⊗ Wx ⊗ Wc readout); top images per channel need it");
  const int64_t n_neurons = readout->Wc.size(0);
  check(neuron >= 0 && neuron < n_neurons, kWhere,
        "neuron " + std::to_string(neuron) + " is out of range (the model has " + std::to_string(n_neurons) +
            " neurons)");
  check(options.n_top >= 1 && options.n_channel_top >= 1 && options.batch_size >= 1, kWhere,
        "n_top, n_channel_top and batch_size must be at least 1");
  check(images_in.defined() && (images_in.dim() == 3 || images_in.dim() == 4), kWhere,
        "images must be (n, 1, height, width) or (n, height, width)");
  const at::Tensor images = images_in.dim() == 3 ? images_in.unsqueeze(1) : images_in;
  check(images.size(0) >= 1, kWhere, "there are no images");
  const auto shape = model.input_shape();
  if (shape.size() == 3) {
    check(images.size(1) == shape[0] && images.size(2) == shape[1] && images.size(3) == shape[2], kWhere,
          "images are " + std::to_string(images.size(1)) + "×" + std::to_string(images.size(2)) + "×" +
              std::to_string(images.size(3)) + "; the model takes " + std::to_string(shape[0]) + "×" +
              std::to_string(shape[1]) + "×" + std::to_string(shape[2]));
  }
  const int64_t n_images = images.size(0), height = images.size(2), width = images.size(3);

  TopImages result;
  result.neuron = neuron;
  // (a) the neuron's prediction for every image.
  result.predictions = nn::predict(model, images, options.batch_size, "", options.device).select(1, neuron).contiguous();
  result.image_order = order_descending(result.predictions);
  result.top_images = first(result.image_order, options.n_top);

  // (b) each channel pooled by the neuron's spatial weights.
  {
    torch::NoGradGuard no_grad;
    const bool was_training = model.is_training();
    model.eval();
    const at::Tensor wy = readout->Wy.detach().select(0, neuron).reshape({-1}).to(options.device);
    const at::Tensor wx = readout->Wx.detach().select(0, neuron).reshape({-1}).to(options.device);
    std::vector<at::Tensor> parts;
    for (int64_t start = 0; start < n_images; start += options.batch_size) {
      const int64_t n = std::min(options.batch_size, n_images - start);
      const at::Tensor features = model.core()->forward(images.narrow(0, start, n).to(options.device, at::kFloat));
      parts.push_back(at::einsum("y,x,ncyx->nc", {wy, wx, features}).to(at::kCPU));
    }
    model.train(was_training);
    result.channel_activity = at::cat(parts, 0).contiguous();
  }
  const std::vector<double> wc = row_of(readout->Wc, neuron);
  std::vector<int64_t> used;
  // Compared in float32, as numpy compares a float32 Wc with a Python float
  // (np.abs(Wc) > 0.3 keeps no channel whose weight is −0.3f).
  const float threshold = static_cast<float>(options.wc_threshold);
  for (int64_t c = 0; c < static_cast<int64_t>(wc.size()); ++c)
    if (std::abs(static_cast<float>(wc[c])) > threshold) used.push_back(c);
  std::stable_sort(used.begin(), used.end(), [&wc](int64_t a, int64_t b) { return wc[a] > wc[b]; });
  result.channels = used;
  for (int64_t c : used) {
    result.channel_wc.push_back(wc[c]);
    result.channel_top_images.push_back(
        first(order_descending(result.channel_activity.select(1, c)), options.n_channel_top));
  }

  // (c) the receptive-field window for display.
  result.image_mask = image_mask(*readout, neuron, height, width);
  return result;
}

}  // namespace fovea::insilico
