#include "fovea/viz/weight_figures.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include "fovea/error.h"

namespace fovea::viz {

Grid2D to_grid(const at::Tensor& matrix) {
  check(matrix.defined() && matrix.dim() == 2, "figure", "expected a 2-D tensor");
  const at::Tensor m = matrix.detach().to(at::kCPU, at::kDouble).contiguous();
  const double* p = m.data_ptr<double>();
  return Grid2D(m.size(0), m.size(1), std::vector<double>(p, p + m.numel()));
}

std::vector<double> to_vector(const at::Tensor& vector) {
  check(vector.defined(), "figure", "expected a tensor");
  const at::Tensor v = vector.detach().reshape({-1}).to(at::kCPU, at::kDouble).contiguous();
  const double* p = v.data_ptr<double>();
  return {p, p + v.numel()};
}

namespace {

std::vector<double> arange(size_t n) {
  std::vector<double> x(n);
  std::iota(x.begin(), x.end(), 0.0);
  return x;
}

// A heat map panel without axes (kernels and masks read as pictures).
void picture(Panel& p, const at::Tensor& image, Colormap map, const std::string& title, bool colorbar = true) {
  p.title = title;
  p.image = Heatmap{to_grid(image), map};
  p.image->colorbar = colorbar;
  p.axes = false;
}

std::vector<Rgb> sign_colours(const std::vector<double>& values) {
  std::vector<Rgb> c;
  for (double v : values) c.push_back(v >= 0 ? colours::red : colours::blue);
  return c;
}

// Rank-1 SVD of (T, S): temporal = U0·S0, spatial = V0, the sign chosen so
// that the spatial map's largest-magnitude entry is positive.
std::pair<at::Tensor, at::Tensor> rank1(const at::Tensor& kernel) {
  const int64_t T = kernel.size(0);
  const at::Tensor m = kernel.detach().to(at::kDouble).reshape({T, -1});
  auto [U, S, Vh] = at::linalg_svd(m, false);
  at::Tensor temporal = U.select(1, 0) * S[0];
  at::Tensor spatial = Vh.select(0, 0);
  if (spatial[spatial.abs().argmax()].item<double>() < 0) temporal = -temporal, spatial = -spatial;
  return {temporal, spatial.reshape({kernel.size(1), kernel.size(2)})};
}

}  // namespace

Figure separable_kernel_figure(const at::Tensor& spatial, const at::Tensor& temporal, const at::Tensor& sin_weights,
                               const at::Tensor& cos_weights, const std::string& title) {
  const bool has_basis = sin_weights.defined() && cos_weights.defined();
  const int cols = has_basis ? 4 : 2;
  Figure fig(290 * cols, 300);
  fig.set_title(title);
  picture(fig.add_panel(1, cols, 0, 0), spatial, Colormap::RdBu_r, "spatial kernel");

  Panel& t = fig.add_panel(1, cols, 0, 1);
  const auto tk = to_vector(temporal);
  t.title = "temporal kernel";
  t.xlabel = "frame";
  t.lines.push_back(Line{arange(tk.size()), tk, colours::black, 2});
  t.lines.push_back(Line{{0, static_cast<double>(tk.size() - 1)}, {0, 0}, colours::grey, 1, "", true});
  if (has_basis) {
    const std::pair<const char*, at::Tensor> parts[] = {{"sine weights", sin_weights}, {"cosine weights", cos_weights}};
    for (int i = 0; i < 2; ++i) {
      Panel& p = fig.add_panel(1, cols, 0, 2 + i);
      const auto w = to_vector(parts[i].second);
      p.title = parts[i].first;
      p.xlabel = "harmonic";
      p.bars.push_back(Bars{arange(w.size()), w, colours::grey, sign_colours(w)});
    }
  }
  return fig;
}

Figure spacetime_kernel_figure(const at::Tensor& kernel, const std::string& title) {
  check(kernel.defined() && kernel.dim() == 3, "figure", "a space-time kernel must be (T, H, W)");
  auto [temporal, spatial] = rank1(kernel);
  return separable_kernel_figure(spatial, temporal, {}, {}, title);
}

Figure conv2d_filters_figure(const at::Tensor& weights, const std::string& title, std::vector<int64_t> order,
                             double vmax) {
  check(weights.defined() && weights.dim() == 4, "figure", "conv filters must be (out, in, kh, kw)");
  const int64_t n = weights.size(0);
  if (order.empty()) {
    order.resize(n);
    std::iota(order.begin(), order.end(), 0);
  }
  for (int64_t i : order) check(i >= 0 && i < n, "figure", "filter index " + std::to_string(i) + " out of range");
  const at::Tensor filters = weights.detach().select(1, 0).to(at::kDouble);
  if (vmax <= 0) vmax = std::max(filters.abs().max().item<double>(), 1e-12);
  const int cols = static_cast<int>(std::min<int64_t>(16, static_cast<int64_t>(order.size())));
  const int rows = static_cast<int>((order.size() + cols - 1) / cols);
  Figure fig(std::max(300, 70 * cols), 40 + 80 * rows);
  fig.set_title(title);
  for (size_t k = 0; k < order.size(); ++k) {
    Panel& p = fig.add_panel(rows, cols, static_cast<int>(k) / cols, static_cast<int>(k) % cols);
    picture(p, filters[order[k]], Colormap::RdBu_r, std::to_string(order[k]), false);
    p.image->vmin = -vmax, p.image->vmax = vmax;
    p.title_size = 0.8;
  }
  return fig;
}

Figure mask_readout_figure(const at::Tensor& mask, const at::Tensor& features, const std::string& title) {
  Figure fig(760, 320);
  fig.set_title(title);
  Panel& m = fig.add_panel(1, 5, 0, 0, 1, 2);
  picture(m, mask, Colormap::Viridis, "spatial mask");
  Panel& f = fig.add_panel(1, 5, 0, 2, 1, 3);
  const auto w = to_vector(features);
  f.title = "feature weights";
  f.xlabel = "core channel";
  f.bars.push_back(Bars{arange(w.size()), w, colours::grey, sign_colours(w)});
  return fig;
}

Figure rank1_readout_figure(const at::Tensor& Wy, const at::Tensor& Wx, const at::Tensor& Wc, const std::string& title,
                            double used_threshold) {
  const at::Tensor wyx = at::outer(Wy.detach().reshape({-1}), Wx.detach().reshape({-1}));
  Figure fig(900, 300);
  fig.set_title(title);
  Panel& m = fig.add_panel(1, 5, 0, 0, 1, 2);
  picture(m, wyx, Colormap::Gray, "W_yx = Wy ⊗ Wx");
  m.image->vmin = 0;
  Panel& c = fig.add_panel(1, 5, 0, 2, 1, 3);
  const auto w = to_vector(Wc);
  const auto used = std::count_if(w.begin(), w.end(), [&](double v) { return std::abs(v) > used_threshold; });
  c.title = "Wc: " + std::to_string(used) + " of " + std::to_string(w.size()) + " channels with |Wc| > " +
            fmt::format("{:g}", used_threshold);
  c.xlabel = "conv2 channel";
  c.bars.push_back(Bars{arange(w.size()), w, colours::grey, sign_colours(w), 1.0});
  return fig;
}

Figure wc_matrix_figure(const at::Tensor& Wc, bool sort, const std::string& title, double vmax) {
  check(Wc.defined(), "figure", "Wc is missing");
  at::Tensor w = Wc.detach().to(at::kDouble).reshape({Wc.size(0), -1});  // (N, C)
  if (sort && w.size(0) > 1) {
    // Channels by their loading on the leading right singular vector;
    // neurons by their strongest channel in that order, then by its weight.
    auto [U, S, Vh] = at::linalg_svd(w, false);
    const at::Tensor channel_order = Vh.select(0, 0).argsort();
    w = w.index_select(1, channel_order);
    const at::Tensor strongest = w.abs().argmax(1).to(at::kDouble);
    const at::Tensor key = strongest * (2 * w.abs().max().item<double>() + 1) - w.abs().amax(1);
    w = w.index_select(0, key.argsort());
  }
  Figure fig(900, std::clamp<int>(static_cast<int>(w.size(0)) * 3 + 120, 260, 1400));
  fig.set_title(title);
  Panel& p = fig.add_panel(1, 1, 0, 0);
  p.image = Heatmap{to_grid(w), Colormap::RdBu_r, -vmax, vmax, true, "Wc"};
  p.equal_aspect = false;
  p.xlabel = sort ? "channel (sorted)" : "channel";
  p.ylabel = sort ? "neuron (sorted)" : "neuron";
  return fig;
}

}  // namespace fovea::viz
