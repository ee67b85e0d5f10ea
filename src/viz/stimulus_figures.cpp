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
  if (n_channels == 1) return colours::black;
  if (n_channels == 2) return channel == 0 ? colours::darkgreen : colours::darkviolet;
  if (n_channels == 3) {
    const Rgb rgb[] = {colours::pure_red, colours::pure_green, colours::pure_blue};
    return rgb[channel];
  }
  return colours::cycle(static_cast<size_t>(channel));
}

std::string channel_name(int64_t channel, int64_t n_channels) {
  if (n_channels == 1) return "Grey";
  if (n_channels == 2) return channel == 0 ? "Green" : "UV";
  if (n_channels == 3) return channel == 0 ? "Red" : channel == 1 ? "Green" : "Blue";
  return "Channel " + std::to_string(channel);
}

Figure stimulus_composition_figure(const at::Tensor& movie, const std::string& title,
                                   std::optional<double> microns_per_pixel, std::optional<FrameWindow> highlight) {
  check(movie.defined() && movie.dim() == 4, "figure", "a movie stimulus must be (channels, time, height, width)");
  const int64_t T = movie.size(1);
  if (highlight)
    check(highlight->first >= 0 && highlight->first <= highlight->second && highlight->second < T, "figure",
          fmt::format("the highlighted frames {}..{} are not frames of the {}-frame stimulus", highlight->first,
                      highlight->second, T));
  const auto channels = stimulus_composition(movie.detach().cpu());
  const int64_t C = static_cast<int64_t>(channels.size());
  std::string names;
  for (int64_t c = 0; c < C; ++c) names += (c ? "/" : "") + channel_name(c, C);

  Figure fig(1050, 600);  // figsize (21, 12)
  fig.set_title(title);

  // [0,0] the temporal traces.
  Panel& temporal = fig.add_panel(2, 2, 0, 0);
  temporal.title = "Temporal Trace of the Stimulus";
  temporal.xlabel = "Time [s]";
  double M = 0;
  for (int64_t c = 0; c < C; ++c) {
    temporal.lines.push_back(Line{channels[c].time_s, channels[c].temporal, channel_colour(c, C), 1.5});
    for (double v : channels[c].temporal) M = std::max(M, std::abs(v));
  }
  temporal.ylim = std::make_pair(-M, M + 1);
  if (highlight && C > 0) {
    const auto& x = channels[0].time_s;
    temporal.rects.push_back(Rect{x[highlight->first], -M, x[highlight->second], M + 1, colours::black, true, 0.1});
  }

  // [0,1] the spectra and the weighted frequencies.
  Panel& spectrum = fig.add_panel(2, 2, 0, 1);
  std::string frequencies;
  for (int64_t c = 0; c < C; ++c) {
    spectrum.lines.push_back(Line{channels[c].frequencies, channels[c].amplitudes, channel_colour(c, C), 1.5});
    frequencies += (c ? "/" : "") + fmt::format("{:.1f}", channels[c].weighted_frequency);
  }
  spectrum.title = "Weighted Frequency: " + frequencies + " Hz (" + names + ")";
  spectrum.xlabel = "Frequency [Hz]";
  spectrum.xlim = std::make_pair(0.0, 11.0);

  // [1,0] the spatial maps side by side, in imshow's coordinates.
  const int64_t H = C > 0 ? channels[0].height : 0, W = C > 0 ? channels[0].width : 0;
  std::vector<double> maps(static_cast<size_t>(H * C * W), 0.0);
  for (int64_t c = 0; c < C; ++c)
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x < W; ++x) maps[y * C * W + c * W + x] = channels[c].spatial[y * W + x];
  Panel& spatial = fig.add_panel(2, 2, 1, 0);
  spatial.title = "Spatial Component (" + names + ")";
  spatial.image = Heatmap{Grid2D(H, C * W, maps), Colormap::RdBu_r};  // ±max|maps|
  imshow_axes(spatial, /*ticks=*/false);
  for (int64_t c = 0; c < C; ++c)
    spatial.rects.push_back(Rect{static_cast<double>(c * W) - 0.5, -0.5, static_cast<double>((c + 1) * W) - 0.5,
                                 static_cast<double>(H) - 0.5, colours::black, false, 1.0, 2.0});
  const double bar = microns_per_pixel && *microns_per_pixel > 0 ? 50.0 / *microns_per_pixel : (W > 20 ? 4.0 : 1.0);
  spatial.rects.push_back(Rect{6, 15, 6 + bar, 16, colours::black, true});
  spatial.texts.push_back(Text{6, 14, "50 µm", colours::black, 1.0, 0.0, true});

  // [1,1] left empty, as the reference leaves it: a blank axes with frame and ticks.
  Panel& empty = fig.add_panel(2, 2, 1, 1);
  empty.xlim = std::make_pair(0.0, 1.0);
  empty.ylim = std::make_pair(0.0, 1.0);
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
