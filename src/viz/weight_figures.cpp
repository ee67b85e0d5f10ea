#include "fovea/viz/weight_figures.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <array>
#include <numeric>
#include <tuple>

#include <fmt/format.h>

#include "fovea/error.h"
#include "fovea/viz/stimulus_figures.h"

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
  check(mask.defined() && mask.dim() == 2, "figure", "a readout mask must be (height, width)");
  check(features.defined(), "figure", "the feature weights are missing");
  Figure fig = mask_readout_neuron_figure(mask_readout_panels(mask.unsqueeze(0), features.reshape({1, -1})), 0);
  fig.set_title(title);
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


// ---- openretina's weight figures ----

namespace {

// A float64 CPU copy that shares no memory with `t` (drawing never writes back).
at::Tensor copy_of(const at::Tensor& t) { return t.detach().to(at::kCPU, at::kDouble).clone(); }

double abs_max(const at::Tensor& t) { return t.numel() == 0 ? 0.0 : t.abs().max().item<double>(); }

std::string channel_range(int64_t n) { return n == 1 ? "channel 0" : "channels 0.." + std::to_string(n - 1); }

void check_channels(int64_t in, int64_t out, int64_t n_in, int64_t n_out) {
  check(in >= 0 && in < n_in, "weight figure",
        "in_channel " + std::to_string(in) + " is out of range: the layer has " + std::to_string(n_in) + " input " +
            (n_in == 1 ? "channel" : "channels") + " (" + channel_range(n_in) + ")");
  check(out >= 0 && out < n_out, "weight figure",
        "out_channel " + std::to_string(out) + " is out of range: the layer has " + std::to_string(n_out) +
            " output " + (n_out == 1 ? "channel" : "channels") + " (" + channel_range(n_out) + ")");
}

// matplotlib's default colour cycle: C0 blue, C1 orange.
const Rgb kC0 = colours::cycle(0), kC1 = colours::cycle(1);

// imshow of `image` (rows, cols) in ±limit.
void imshow(Panel& p, const at::Tensor& image, double limit, bool colorbar, bool ticks = true) {
  p.image = Heatmap{to_grid(image), Colormap::RdBu_r};
  if (limit > 0) p.image->vmin = -limit, p.image->vmax = limit;
  p.image->colorbar = colorbar;
  imshow_axes(p, ticks);
}

// An empty matplotlib axes: frame and ticks from 0 to 1.
void empty_axes(Panel& p, const std::string& title) {
  p.title = title;
  p.xlim = std::make_pair(0.0, 1.0);
  p.ylim = std::make_pair(0.0, 1.0);
}

void fill_mask_readout_row(Figure& fig, int rows, int row, const MaskReadoutPanels& panels, int64_t neuron,
                           const std::string& prefix, const std::string& feature_title) {
  const int64_t n = panels.masks.size(0);
  check(neuron >= 0 && neuron < n, "readout figure",
        "neuron " + std::to_string(neuron) + " is out of range: the readout has " + std::to_string(n) +
            (n == 1 ? " neuron" : " neurons") + " (0.." + std::to_string(n - 1) + ")");
  Panel& m = fig.add_panel(rows, 2, row, 0);
  m.title = prefix + "Readout Mask";
  imshow(m, panels.masks[neuron], panels.mask_limit, false);
  Panel& f = fig.add_panel(rows, 2, row, 1);
  f.title = prefix + feature_title;
  const auto w = to_vector(panels.features[neuron]);
  f.bars.push_back(Bars{arange(w.size()), w, kC0, {}, 0.8});
  if (panels.feature_max > panels.feature_min) f.ylim = std::make_pair(panels.feature_min, panels.feature_max);
}

}  // namespace

bool spatial_center_negative(const at::Tensor& spatial) {
  check(spatial.defined() && spatial.dim() == 2, "weight figure", "a spatial kernel must be (height, width)");
  const int64_t kh = spatial.size(0), kw = spatial.size(1);
  const int64_t cx = kh / 2, cy = kw / 2;
  const int64_t r0 = std::max<int64_t>(cx - 3, 0), r1 = std::min(cx + 2, kh);
  const int64_t c0 = std::max<int64_t>(cy - 3, 0), c1 = std::min(cy + 2, kw);
  if (r1 <= r0 || c1 <= c0) return false;  // an empty window: the mean is NaN, and NaN < 0 is false
  return spatial.detach().to(at::kCPU, at::kDouble).slice(0, r0, r1).slice(1, c0, c1).mean().item<double>() < 0;
}

SeparableChannelPanels separable_channel_panels(const at::Tensor& weight_spatial, const at::Tensor& temporal,
                                                const at::Tensor& sin_weights, const at::Tensor& cos_weights,
                                                int64_t in_channel, int64_t out_channel) {
  check(weight_spatial.defined(), "weight figure", "the spatial weight is missing");
  at::Tensor ws = copy_of(weight_spatial);
  if (ws.dim() == 5) {
    check(ws.size(2) == 1, "weight figure", "a spatial weight (O, I, 1, kh, kw) must have 1 frame");
    ws = ws.squeeze(2);
  }
  check(ws.dim() == 4, "weight figure", "the spatial weight must be (out, in, kh, kw)");
  const int64_t O = ws.size(0), I = ws.size(1);
  check_channels(in_channel, out_channel, I, O);
  auto per_channel = [&](const at::Tensor& t, const char* what) {
    const at::Tensor c = copy_of(t);
    check(c.dim() == 3 && c.size(0) == O && c.size(1) == I, "weight figure",
          std::string(what) + " must be (" + std::to_string(O) + ", " + std::to_string(I) + ", length)");
    return c;
  };

  SeparableChannelPanels p;
  p.in_channel = in_channel, p.out_channel = out_channel;
  p.spatial = ws[out_channel][in_channel].clone();
  p.spatial_limit = abs_max(ws);
  if (temporal.defined()) {
    const at::Tensor t = per_channel(temporal, "the temporal kernels");
    p.temporal = t[out_channel][in_channel].clone();
    p.temporal_limit = abs_max(t);
  }
  check(sin_weights.defined() == cos_weights.defined(), "weight figure", "sin and cos weights come together");
  if (sin_weights.defined()) {
    const at::Tensor s = per_channel(sin_weights, "the sin weights"), c = per_channel(cos_weights, "the cos weights");
    p.sin_weights = s[out_channel][in_channel].clone();
    p.cos_weights = c[out_channel][in_channel].clone();
    p.sin_cos_limit = 1.1 * std::max(abs_max(s), abs_max(c));
  }
  // The centre-positive flip, on the copies only.
  p.flipped = spatial_center_negative(p.spatial);
  if (p.flipped) {
    p.spatial = -p.spatial;
    if (p.temporal.defined()) p.temporal = -p.temporal;
    if (p.sin_weights.defined()) p.sin_weights = -p.sin_weights, p.cos_weights = -p.cos_weights;
  }
  return p;
}

SeparableChannelPanels separable_channel_panels(const nn::STSeparableBatchConv3dImpl& conv, int64_t in_channel,
                                                int64_t out_channel) {
  torch::NoGradGuard no_grad;
  return separable_channel_panels(conv.weight_spatial, conv.temporal_kernels(), conv.sin_weights, conv.cos_weights,
                                  in_channel, out_channel);
}

SeparableChannelPanels time_independent_channel_panels(const at::Tensor& weight, int64_t in_channel,
                                                       int64_t out_channel) {
  SeparableChannelPanels p = separable_channel_panels(weight, {}, {}, {}, in_channel, out_channel);
  p.spatial_limit = abs_max(p.spatial);  // its own colour scale
  return p;
}

SeparableChannelPanels full_conv_channel_panels(const at::Tensor& weight, int64_t in_channel, int64_t out_channel) {
  check(weight.defined() && weight.dim() == 5, "weight figure", "a full conv weight must be (out, in, T, kh, kw)");
  const at::Tensor w = copy_of(weight);
  const int64_t O = w.size(0), I = w.size(1), T = w.size(2), kh = w.size(3), kw = w.size(4);
  check_channels(in_channel, out_channel, I, O);
  auto [U, S, Vh] = at::linalg_svd(w.reshape({O * I, T, kh * kw}), false);
  at::Tensor spatial = Vh.select(1, 0);                                      // (O·I, kh·kw)
  const at::Tensor a = spatial.abs().amax(1, /*keepdim=*/true).clamp_min(1e-300);
  at::Tensor temporal = U.select(2, 0) * S.select(1, 0).unsqueeze(1) * a;    // (O·I, T)
  spatial = spatial / a;
  return separable_channel_panels(spatial.reshape({O, I, kh, kw}), temporal.reshape({O, I, T}), {}, {}, in_channel,
                                  out_channel);
}

Figure separable_channel_figure(const SeparableChannelPanels& p) {
  check(p.spatial.defined() && p.spatial.dim() == 2, "weight figure", "the panels have no spatial kernel");
  const bool has_temporal = p.temporal.defined(), has_basis = p.sin_weights.defined();
  const int cols = has_temporal && has_basis ? 3 : 2;
  Figure fig(420 * cols, 420);  // matplotlib's figsize (18, 6) for three panels, at 70 pixels per inch
  fig.set_title(fmt::format("Weights for in_channel={} out_channel={}", p.in_channel, p.out_channel));

  Panel& s = fig.add_panel(1, cols, 0, 0);
  s.title = "Spatial Weight";
  imshow(s, p.spatial, p.spatial_limit, true);

  Panel& t = fig.add_panel(1, cols, 0, 1);
  if (!has_temporal) {
    empty_axes(t, "No temporal filter");
    return fig;
  }
  t.title = "Temporal Weight";
  const auto tk = to_vector(p.temporal);
  t.lines.push_back(Line{arange(tk.size()), tk, kC0, 1.5});
  if (p.temporal_limit > 0) t.ylim = std::make_pair(-p.temporal_limit, p.temporal_limit);

  if (has_basis) {
    Panel& b = fig.add_panel(1, cols, 0, 2);
    b.title = "Sin/Cos Weights";
    const auto sw = to_vector(p.sin_weights), cw = to_vector(p.cos_weights);
    b.lines.push_back(Line{arange(sw.size()), sw, kC0, 1.5, "sin"});
    b.lines.push_back(Line{arange(cw.size()), cw, kC1, 1.5, "cos"});
    b.legend = true;
    if (p.sin_cos_limit > 0) b.ylim = std::make_pair(-p.sin_cos_limit, p.sin_cos_limit);
  }
  return fig;
}

MaskReadoutPanels mask_readout_panels(const at::Tensor& masks, const at::Tensor& features) {
  check(masks.defined() && masks.dim() == 3, "readout figure", "the masks must be (neurons, height, width)");
  check(features.defined() && features.dim() == 2 && features.size(0) == masks.size(0), "readout figure",
        "the feature weights must be (neurons, channels) with one row per mask");
  MaskReadoutPanels p;
  p.masks = copy_of(masks);
  p.features = copy_of(features);
  p.mask_limit = abs_max(p.masks);
  if (p.features.numel() > 0) {
    p.feature_min = p.features.min().item<double>();
    p.feature_max = p.features.max().item<double>();
  }
  return p;
}

Figure mask_readout_neuron_figure(const MaskReadoutPanels& panels, int64_t neuron, const std::string& feature_title) {
  Figure fig(840, 420);  // figsize (12, 6)
  fill_mask_readout_row(fig, 1, 0, panels, neuron, "", feature_title);
  return fig;
}

Figure mask_readout_ensemble_figure(const std::vector<MaskReadoutPanels>& members, int64_t neuron,
                                    const std::string& feature_title) {
  check(!members.empty(), "readout figure", "an ensemble has at least one member");
  const int rows = static_cast<int>(members.size());
  Figure fig(840, 360 * rows);
  for (int m = 0; m < rows; ++m)
    fill_mask_readout_row(fig, rows, m, members[m], neuron, fmt::format("member {}: ", m), feature_title);
  return fig;
}

at::Tensor point_gaussian_masks(const at::Tensor& mu, int64_t h, int64_t w) {
  check(mu.defined() && mu.numel() % 2 == 0 && mu.size(-1) == 2, "readout figure", "positions must end in (x, y)");
  check(h >= 1 && w >= 1, "readout figure", "the core output has no pixels");
  const at::Tensor m = copy_of(mu).reshape({-1, 2}).clamp(-1.0, 1.0);
  const int64_t n = m.size(0);
  at::Tensor masks = torch::zeros({n, h, w}, at::kDouble);
  auto acc = masks.accessor<double, 3>();
  const auto pos = m.accessor<double, 2>();
  for (int64_t k = 0; k < n; ++k) {
    // align_corners=True: −1 and 1 are the centres of the first and last pixel.
    const double x = (pos[k][0] + 1) / 2 * static_cast<double>(w - 1);
    const double y = (pos[k][1] + 1) / 2 * static_cast<double>(h - 1);
    const int64_t x0 = static_cast<int64_t>(std::floor(x)), y0 = static_cast<int64_t>(std::floor(y));
    const double fx = x - static_cast<double>(x0), fy = y - static_cast<double>(y0);
    const std::array<std::tuple<int64_t, int64_t, double>, 4> corners{
        {{y0, x0, (1 - fx) * (1 - fy)}, {y0, x0 + 1, fx * (1 - fy)}, {y0 + 1, x0, (1 - fx) * fy}, {y0 + 1, x0 + 1, fx * fy}}};
    for (const auto& [yy, xx, weight] : corners)
      if (yy >= 0 && yy < h && xx >= 0 && xx < w) acc[k][yy][xx] += weight;  // zeros outside
  }
  return masks;
}

Figure kernel_rows_figure(const at::Tensor& spatial, const at::Tensor& temporal, const std::string& title) {
  check(spatial.defined() && spatial.dim() == 4, "figure", "kernel rows must be (rows, channels, height, width)");
  const at::Tensor s = copy_of(spatial);
  const int64_t R = s.size(0), C = s.size(1), H = s.size(2), W = s.size(3);
  at::Tensor t;
  if (temporal.defined()) {
    t = copy_of(temporal);
    check(t.dim() == 3 && t.size(0) == R, "figure", "temporal traces must be (rows, traces, time)");
  }
  const int cols = t.defined() ? 2 : 1;
  const double limit = abs_max(s);
  Figure fig(cols == 2 ? 900 : 480, std::min(60 + 320 * static_cast<int>(R), 4000));
  fig.set_title(title);
  for (int64_t r = 0; r < R; ++r) {
    const std::string suffix = R > 1 ? fmt::format(" (component {})", r) : "";
    Panel& p = fig.add_panel(static_cast<int>(R), cols, static_cast<int>(r), 0);
    p.title = "Spatial Weight" + suffix;
    imshow(p, s[r].permute({1, 0, 2}).reshape({H, C * W}), limit, true, false);
    for (int64_t c = 0; c < C && C > 1; ++c)
      p.rects.push_back(Rect{static_cast<double>(c * W) - 0.5, -0.5, static_cast<double>((c + 1) * W) - 0.5,
                             static_cast<double>(H) - 0.5, colours::black, false, 1.0, 2.0});
    if (t.defined()) {
      Panel& q = fig.add_panel(static_cast<int>(R), cols, static_cast<int>(r), 1);
      q.title = "Temporal Weight" + suffix;
      q.xlabel = "frame";
      const int64_t traces = t.size(1);
      for (int64_t c = 0; c < traces; ++c) {
        const auto y = to_vector(t[r][c]);
        q.lines.push_back(Line{arange(y.size()), y, traces == C ? channel_colour(c, C) : colours::black, 1.5});
      }
    }
  }
  return fig;
}

}  // namespace fovea::viz
