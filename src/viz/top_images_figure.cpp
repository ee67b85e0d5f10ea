#include "fovea/viz/top_images_figure.h"

#include <torch/torch.h>

#include <fmt/format.h>

#include <algorithm>

#include "fovea/error.h"
#include "fovea/viz/weight_figures.h"

namespace fovea::viz {

namespace {

// One masked image, grey in [−1, 1] as plot_maxstim draws it.
void masked_image(Panel& p, const at::Tensor& images, const at::Tensor& mask, int64_t index) {
  const at::Tensor img = images[index].reshape({mask.size(0), mask.size(1)}).to(at::kFloat) * mask;
  p.image = Heatmap{to_grid(img), Colormap::Gray, -1.0, 1.0};
  p.axes = false;
  p.title_size = 0.6;
}

// The channels to show: the first six (most positive Wc) and the last two (most negative).
std::vector<size_t> shown_channels(size_t n) {
  std::vector<size_t> rows;
  for (size_t i = 0; i < std::min<size_t>(6, n); ++i) rows.push_back(i);
  for (size_t i = std::max<size_t>(6, n >= 2 ? n - 2 : 0); i < n; ++i) rows.push_back(i);
  return rows;
}

}  // namespace

Figure top_images_figure(const insilico::TopImages& top, const at::Tensor& images, const std::string& title) {
  check(images.defined() && (images.dim() == 3 || images.dim() == 4), "figure", "images must be (n, [1,] H, W)");
  const at::Tensor mask = top.image_mask.to(at::kFloat);
  const double aspect = static_cast<double>(mask.size(1)) / static_cast<double>(mask.size(0));
  const auto rows = shown_channels(top.channels.size());
  const int64_t per_row = rows.empty() ? 0 : static_cast<int64_t>(top.channel_top_images.front().size());
  const int cell_h = 70, cell_w = static_cast<int>(cell_h * aspect);
  const int left_w = 4 * cell_w + 40, right_w = static_cast<int>(per_row) * cell_w + 40;
  const int height = 8 * (cell_h + 18) + 50;
  Figure fig(left_w + right_w, height);
  fig.set_title(title);
  const double split = static_cast<double>(left_w) / (left_w + right_w);

  // Left: the neuron's top images, 4 × 4.
  for (size_t i = 0; i < std::min<size_t>(16, top.top_images.size()); ++i) {
    const double x0 = split * (i % 4) / 4.0, y1 = 1.0 - (i / 4) / 4.0;
    Panel& p = fig.add_panel_at(x0, x0 + split / 4.0, y1 - 0.25, y1);
    masked_image(p, images, mask, top.top_images[i]);
    if (i == 0) p.title = "top images of the neuron", p.title_justify = 0;
  }
  // Right: one row per shown channel.
  for (size_t r = 0; r < rows.size(); ++r) {
    const size_t k = rows[r];
    const double y1 = 1.0 - static_cast<double>(r) / 8.0;
    for (int64_t j = 0; j < per_row && j < static_cast<int64_t>(top.channel_top_images[k].size()); ++j) {
      const double x0 = split + (1 - split) * static_cast<double>(j) / static_cast<double>(per_row);
      Panel& p = fig.add_panel_at(x0, x0 + (1 - split) / static_cast<double>(per_row), y1 - 1.0 / 8.0, y1);
      masked_image(p, images, mask, top.channel_top_images[k][j]);
      p.frame = top.channel_wc[k] >= 0 ? colours::red : colours::blue;
      if (j == 0) p.title = fmt::format("channel {}: Wc {:+.2f}", top.channels[k], top.channel_wc[k]), p.title_justify = 0;
    }
  }
  return fig;
}

}  // namespace fovea::viz
