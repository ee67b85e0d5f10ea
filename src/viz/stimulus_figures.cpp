#include "fovea/viz/stimulus_figures.h"

#include <torch/torch.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "fovea/error.h"
#include "fovea/viz/stimulus_decomposition.h"
#include "fovea/viz/weight_figures.h"

namespace fovea::viz {

Rgb channel_colour(int64_t channel, int64_t n_channels) {
  if (n_channels == 2) return channel == 0 ? colours::darkgreen : colours::darkviolet;
  if (n_channels == 3) {
    const Rgb rgb[] = {colours::pure_red, colours::pure_green, colours::pure_blue};
    return rgb[channel];
  }
  return n_channels == 1 ? colours::grey : colours::cycle(static_cast<size_t>(channel));
}

Figure stimulus_composition_figure(const at::Tensor& movie, const std::string& title,
                                   std::optional<double> microns_per_pixel) {
  check(movie.defined() && movie.dim() == 4, "figure", "a movie stimulus must be (channels, time, height, width)");
  const auto channels = stimulus_composition(movie.detach().cpu());
  const int64_t C = static_cast<int64_t>(channels.size());
  Figure fig(1050, 640);
  fig.set_title(title);

  Panel& temporal = fig.add_panel(2, 2, 0, 0);
  temporal.title = "temporal component";
  temporal.xlabel = "time (s)";
  Panel& spectrum = fig.add_panel(2, 2, 0, 1);
  spectrum.title = "frequency spectrum (low-passed)";
  spectrum.xlabel = "frequency (Hz)";
  spectrum.legend = true;
  for (int64_t c = 0; c < C; ++c) {
    const auto& ch = channels[c];
    const Rgb colour = channel_colour(c, C);
    temporal.lines.push_back(Line{ch.time_s, ch.temporal, colour, 2});
    spectrum.lines.push_back(
        Line{ch.frequencies, ch.amplitudes, colour, 2, fmt::format("mean {:.2f} Hz", ch.weighted_frequency)});
  }
  if (!channels.empty() && !channels[0].time_s.empty())
    temporal.lines.push_back(Line{{channels[0].time_s.front(), channels[0].time_s.back()}, {0, 0}, colours::grey, 1, "", true});

  // The spatial maps side by side, separated by a column of zeros (white).
  const int64_t H = channels.empty() ? 0 : channels[0].height, W = channels.empty() ? 0 : channels[0].width;
  const int64_t total_w = C * W + (C - 1);
  std::vector<double> maps(static_cast<size_t>(H * total_w), 0.0);
  for (int64_t c = 0; c < C; ++c)
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x < W; ++x) maps[y * total_w + c * (W + 1) + x] = channels[c].spatial[y * W + x];
  Panel& spatial = fig.add_panel(2, 2, 1, 0);
  spatial.title = C == 2 ? "spatial component (green | UV)" : C == 3 ? "spatial component (R | G | B)" : "spatial component";
  spatial.image = Heatmap{Grid2D(H, total_w, maps), Colormap::RdBu_r, -1.0, 1.0, true};
  spatial.axes = false;
  if (microns_per_pixel && *microns_per_pixel > 0) {
    const double length = 50.0 / *microns_per_pixel;  // pixels
    spatial.lines.push_back(Line{{0.5, 0.5 + length}, {-0.6, -0.6}, colours::black, 3});
    spatial.texts.push_back(Text{0.5 + length / 2, -1.6, "50 µm", colours::black, 0.9, 0.5, true});
    spatial.image->extent = std::array<double, 4>{0, static_cast<double>(total_w), 0, static_cast<double>(H)};
    spatial.ylim = std::make_pair(-2.2, static_cast<double>(H));
  }
  Panel& legend = fig.add_panel(2, 2, 1, 1);
  legend.axes = false;
  for (int64_t c = 0; c < C; ++c) {
    const auto& ch = channels[c];
    const std::string name = C == 2 ? (c == 0 ? "green" : "UV") : C == 3 ? std::string(1, "RGB"[c]) : "channel " + std::to_string(c);
    legend.texts.push_back(Text{0.05, 0.85 - 0.15 * static_cast<double>(c),
                                fmt::format("{}: weighted mean frequency {:.2f} Hz", name, ch.weighted_frequency),
                                channel_colour(c, C), 1.1});
  }
  legend.xlim = std::make_pair(0.0, 1.0);
  legend.ylim = std::make_pair(0.0, 1.0);
  return fig;
}

Figure image_stimulus_figure(const at::Tensor& image, const std::string& title) {
  check(image.defined() && image.dim() == 3, "figure", "an image stimulus must be (channels, height, width)");
  const int64_t C = image.size(0);
  const double aspect = static_cast<double>(image.size(2)) / static_cast<double>(image.size(1));
  Figure fig(static_cast<int>(std::clamp(300 * aspect, 300.0, 900.0)) * static_cast<int>(C), 340);
  fig.set_title(title);
  const double vmax = std::max(image.detach().abs().max().item<double>(), 1e-12);
  for (int64_t c = 0; c < C; ++c) {
    Panel& p = fig.add_panel(1, static_cast<int>(C), 0, static_cast<int>(c));
    p.image = Heatmap{to_grid(image[c]), Colormap::Gray, -vmax, vmax, true};
    p.axes = false;
    if (C > 1) p.title = "channel " + std::to_string(c);
  }
  return fig;
}

}  // namespace fovea::viz
