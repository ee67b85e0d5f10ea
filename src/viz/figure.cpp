// Figure: records panels; FigureRenderer replays them through PLplot.
#include "fovea/viz/figure.h"

#include <plstream.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <opencv2/imgcodecs.hpp>
#include <system_error>

#include "fovea/error.h"
#include "fovea/io/atomic_file.h"

namespace fs = std::filesystem;

namespace fovea::viz {

Rgb colours::cycle(size_t index) {
  static const Rgb tab10[] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44},  {214, 39, 40},  {148, 103, 189},
                              {140, 86, 75},  {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207}};
  return tab10[index % 10];
}

Grid2D::Grid2D(int64_t rows_, int64_t cols_, std::vector<double> values_)
    : rows(rows_), cols(cols_), values(std::move(values_)) {
  check(rows >= 0 && cols >= 0 && values.size() == static_cast<size_t>(rows * cols), "Grid2D",
        "expected " + std::to_string(rows * cols) + " values, got " + std::to_string(values.size()));
}

Figure::Figure(int width_px, int height_px) : width_(width_px), height_(height_px) {
  check(width_px >= 16 && height_px >= 16 && width_px <= 20000 && height_px <= 20000, "Figure",
        "size " + std::to_string(width_px) + "x" + std::to_string(height_px) + " is out of range");
}

Panel& Figure::add_panel(int rows, int cols, int row, int col, int row_span, int col_span) {
  check(rows > 0 && cols > 0 && row >= 0 && col >= 0 && row_span > 0 && col_span > 0 && row + row_span <= rows &&
            col + col_span <= cols,
        "Figure::add_panel", "cell outside the grid");
  // The figure title takes a strip at the top; the grid fills the rest.
  const double top = 1.0;
  const double x0 = static_cast<double>(col) / cols, x1 = static_cast<double>(col + col_span) / cols;
  const double y1 = top - static_cast<double>(row) / rows, y0 = top - static_cast<double>(row + row_span) / rows;
  return add_panel_at(x0, x1, y0, y1);
}

Panel& Figure::add_panel_at(double x0, double x1, double y0, double y1) {
  check(0 <= x0 && x0 < x1 && x1 <= 1 && 0 <= y0 && y0 < y1 && y1 <= 1, "Figure::add_panel_at",
        "the panel must lie inside the page");
  panels_.push_back(std::make_unique<Placed>(Placed{x0, x1, y0, y1, Panel{}}));
  return panels_.back()->panel;
}

const Panel& Figure::panel(size_t index) const {
  check(index < panels_.size(), "Figure::panel",
        "panel " + std::to_string(index) + " does not exist; the figure has " + std::to_string(panels_.size()));
  return panels_[index]->panel;
}

void imshow_axes(Panel& panel, bool ticks) {
  check(panel.image.has_value(), "imshow_axes", "the panel has no image");
  const double rows = static_cast<double>(panel.image->data.rows), cols = static_cast<double>(panel.image->data.cols);
  panel.image->extent = std::array<double, 4>{-0.5, cols - 0.5, rows - 0.5, -0.5};
  panel.xlim = std::make_pair(-0.5, cols - 0.5);
  panel.ylim = std::make_pair(rows - 0.5, -0.5);
  panel.axes = ticks;
}

const std::vector<std::string>& figure_formats() {
  static const std::vector<std::string> formats = {"png", "svg", "pdf", "jpg", "jpeg"};
  return formats;
}

namespace {

// 256-entry colour tables, interpolated from matplotlib's control colours.
std::vector<Rgb> colormap_table(Colormap map) {
  std::vector<Rgb> stops;
  switch (map) {
    case Colormap::RdBu_r:  // matplotlib RdBu (ColorBrewer), reversed: blue low, red high
      stops = {{5, 48, 97},    {33, 102, 172},  {67, 147, 195}, {146, 197, 222}, {209, 229, 240}, {247, 247, 247},
               {253, 219, 199}, {244, 165, 130}, {214, 96, 77},  {178, 24, 43},   {103, 0, 31}};
      break;
    case Colormap::Gray:
      stops = {{0, 0, 0}, {255, 255, 255}};
      break;
    case Colormap::Viridis:
      stops = {{68, 1, 84},    {71, 45, 123},  {59, 82, 139},  {44, 114, 142}, {33, 145, 140},
               {40, 174, 128}, {94, 201, 98},  {173, 220, 48}, {253, 231, 37}};
      break;
  }
  std::vector<Rgb> table(256);
  for (int i = 0; i < 256; ++i) {
    const double pos = i / 255.0 * static_cast<double>(stops.size() - 1);
    const size_t k = std::min(static_cast<size_t>(pos), stops.size() - 2);
    const double f = pos - static_cast<double>(k);
    auto mix = [&](uint8_t a, uint8_t b) { return static_cast<uint8_t>(std::lround(a + f * (b - a))); };
    table[i] = {mix(stops[k].r, stops[k + 1].r), mix(stops[k].g, stops[k + 1].g), mix(stops[k].b, stops[k + 1].b)};
  }
  return table;
}

// PLplot reads '#' as the start of an escape sequence.
std::string plplot_text(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '#') out += '#';
    out += c;
  }
  return out;
}

struct Range {
  double lo = INFINITY, hi = -INFINITY;
  void add(double v) {
    if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  }
  bool empty() const { return !(lo <= hi); }
  // matplotlib's 5% margins; a degenerate range gets some width.
  std::pair<double, double> padded(double margin) const {
    if (empty()) return {0, 1};
    if (hi == lo) {
      const double d = lo == 0 ? 0.5 : std::abs(lo) * 0.1;
      return {lo - d, hi + d};
    }
    const double d = (hi - lo) * margin;
    return {lo - d, hi + d};
  }
};

// About how wide PLplot's widest tick label over [a, b] is, in digit
// widths: the integer digits (PLplot switches to an exponent beyond 5), a
// minus sign, and the decimals its tick step needs (the point counts half).
double tick_label_chars(double a, double b) {
  const double lo = std::min(a, b), hi = std::max(a, b), range = hi - lo;
  if (!(range > 0) || !std::isfinite(range)) return 3;
  const double mag = std::max(std::abs(lo), std::abs(hi));
  const int decimals = std::max(0, static_cast<int>(std::ceil(-std::log10(range / 5))));
  const int digits = mag >= 1 ? static_cast<int>(std::floor(std::log10(mag))) + 1 : 1;
  return std::min(digits, 5) + (lo < 0 ? 1 : 0) + (decimals > 0 ? decimals + 0.5 : 0);
}

void check_finite(const std::vector<double>& values, const std::string& what) {
  for (double v : values)
    if (!std::isfinite(v)) fail("figure", what + " contains a non-finite value (NaN or inf)");
}

std::pair<double, double> heatmap_limits(const Heatmap& h) {
  double lo = INFINITY, hi = -INFINITY, absmax = 0;
  for (double v : h.data.values) lo = std::min(lo, v), hi = std::max(hi, v), absmax = std::max(absmax, std::abs(v));
  if (h.data.values.empty()) lo = 0, hi = 1;
  double vmin, vmax;
  if (h.colormap == Colormap::RdBu_r) {
    const double m = absmax > 0 ? absmax : 1;
    vmin = h.vmin.value_or(-m), vmax = h.vmax.value_or(m);
  } else {
    vmin = h.vmin.value_or(lo), vmax = h.vmax.value_or(hi);
  }
  if (!(vmax > vmin)) vmax = vmin + 1;  // a constant image: draw it at the low end
  return {vmin, vmax};
}

// (left, right, bottom, top) of an image in axis coordinates.
std::array<double, 4> image_extent(const Heatmap& h) {
  return h.extent.value_or(std::array<double, 4>{0, static_cast<double>(h.data.cols), 0,
                                                 static_cast<double>(h.data.rows)});
}

}  // namespace

// Replays a Figure on one PLplot stream.
class FigureRenderer {
 public:
  FigureRenderer(const Figure& figure, const std::string& device, const fs::path& file)
      : figure_(figure), pls_() {
    pls_.sdev(device.c_str());
    pls_.sfnam(file.string().c_str());
    pls_.spage(0, 0, figure.width_, figure.height_, 0, 0);
    pls_.scolbg(255, 255, 255);
    pls_.init();
    pls_.adv(0);
    pls_.scol0(1, 0, 0, 0);
    // Character heights are in mm; scale them with the page so text is
    // readable in small figures and large ones alike.
    base_char_ = std::clamp(std::min(figure.width_, figure.height_) / 170.0, 1.6, 2.2);
    pls_.schr(0, base_char_ / 2.6);
  }

  void draw() {
    if (!figure_.title_.empty()) {
      pls_.vpor(0, 1, 0, 1);
      pls_.wind(0, 1, 0, 1);
      set_colour(colours::black);
      pls_.schr(0, 1.15 * base_char_ / 2.6);
      pls_.ptex(0.5, 1.0 - fy(0.62 * title_strip_px()), 1, 0, 0.5, plplot_text(figure_.title_).c_str());
      pls_.schr(0, base_char_ / 2.6);
    }
    for (const auto& placed : figure_.panels_) draw_panel(*placed);
  }

 private:
  const Figure& figure_;
  plstream pls_;
  double base_char_ = 2.6;

  double fx(double px) const { return px / figure_.width_; }
  // The strip at the top that the figure title takes.
  double title_strip_px() const { return 12 + 11 * base_char_; }
  double fy(double px) const { return px / figure_.height_; }

  void set_colour(Rgb c) {
    pls_.scol0(15, c.r, c.g, c.b);
    pls_.col0(15);
  }

  void use_colormap(Colormap map) {
    const auto table = colormap_table(map);
    std::vector<PLINT> r(256), g(256), b(256);
    for (int i = 0; i < 256; ++i) r[i] = table[i].r, g[i] = table[i].g, b[i] = table[i].b;
    pls_.scmap1n(256);
    pls_.scmap1(r.data(), g.data(), b.data(), 256);
  }

  // Draws a grid as an image: data[i][j] is column i, row j from the low y
  // end; row 0 of the grid goes to the high y end unless `row0_at_low_y`.
  void draw_grid(const Grid2D& grid, double left, double right, double bottom, double top, double vmin, double vmax,
                 bool row0_at_low_y = false) {
    std::vector<std::vector<PLFLT>> columns(grid.cols, std::vector<PLFLT>(grid.rows));
    std::vector<const PLFLT*> pointers(grid.cols);
    for (int64_t c = 0; c < grid.cols; ++c) {
      for (int64_t r = 0; r < grid.rows; ++r)  // clamp: PLplot skips out-of-range cells
        columns[c][row0_at_low_y ? r : grid.rows - 1 - r] = std::clamp(grid(r, c), vmin, vmax);
      pointers[c] = columns[c].data();
    }
    pls_.imagefr(pointers.data(), grid.cols, grid.rows, left, right, std::min(bottom, top), std::max(bottom, top),
                 vmin, vmax, vmin, vmax, nullptr, nullptr);
  }

  void draw_panel(const Figure::Placed& unscaled) {
    // The figure title takes a strip at the top; panels share the rest.
    const double keep = figure_.title_.empty() ? 1.0 : 1.0 - fy(title_strip_px());
    const struct { double x0, x1, y0, y1; } placed{unscaled.x0, unscaled.x1, unscaled.y0 * keep, unscaled.y1 * keep};
    const Panel& p = unscaled.panel;
    if (p.image) check_finite(p.image->data.values, "the image of panel '" + p.title + "'");
    for (const auto& l : p.lines) check_finite(l.x, "a line of panel '" + p.title + "'"), check_finite(l.y, "a line");
    for (const auto& b : p.bars) check_finite(b.heights, "the bars of panel '" + p.title + "'");
    for (const auto& r : p.rects) check_finite({r.x0, r.x1, r.y0, r.y1}, "a rectangle of panel '" + p.title + "'");

    // World coordinates.
    Range xr, yr;
    std::array<double, 4> extent{};
    if (p.image) {
      extent = image_extent(*p.image);
      xr.add(extent[0]), xr.add(extent[1]), yr.add(extent[2]), yr.add(extent[3]);
    }
    for (const auto& l : p.lines) {
      for (double v : l.x) xr.add(v);
      for (double v : l.y) yr.add(v);
    }
    for (const auto& b : p.bars) {
      for (double v : b.x) xr.add(v - b.width / 2), xr.add(v + b.width / 2);
      for (double v : b.heights) yr.add(v);
      yr.add(0);
    }
    const double margin = p.image ? 0.0 : 0.05;
    auto [wx0, wx1] = p.xlim.value_or(xr.padded(margin));
    auto [wy0, wy1] = p.ylim.value_or(yr.padded(margin));

    // Margins (pixels) for tick labels, axis labels, the title and a colour bar.
    const bool colorbar = p.image && p.image->colorbar;
    const double title_px = p.title.empty() ? 6 : 8 + 7 * base_char_ * p.title_size;
    // A digit of a tick label is about 5 · base_char pixels wide; the y labels
    // sit left of the axis, the last x label overhangs its end by half its width.
    const double digit_px = 5 * base_char_;
    const double tick_labels_px = std::max(8 + 12 * base_char_, 10 + digit_px * tick_label_chars(wy0, wy1));
    const double left_px = (p.axes ? tick_labels_px : 4) + (p.ylabel.empty() ? 0 : 12 * base_char_);
    const double bottom_px = (p.axes ? 8 + 10 * base_char_ : 4) + (p.xlabel.empty() ? 0 : 11 * base_char_);
    const double right_px =
        colorbar ? 40 + 14 * base_char_ + (p.image->colorbar_label.empty() ? 0 : 8 * base_char_)
                 : (p.axes ? std::max(10.0, 4 + digit_px * tick_label_chars(wx0, wx1) / 2) : 10);
    double vx0 = placed.x0 + fx(left_px), vx1 = placed.x1 - fx(right_px);
    double vy0 = placed.y0 + fy(bottom_px), vy1 = placed.y1 - fy(title_px);
    if (vx1 <= vx0 + 0.005 || vy1 <= vy0 + 0.005) fail("figure", "the figure is too small for panel '" + p.title + "'");

    if (p.image && p.equal_aspect) {
      // The largest viewport inside the margins with square data units.
      const double aspect = std::abs(wy1 - wy0) / std::abs(wx1 - wx0);
      const double avail_w = (vx1 - vx0) * figure_.width_, avail_h = (vy1 - vy0) * figure_.height_;
      double w = avail_w, h = avail_w * aspect;
      if (h > avail_h) h = avail_h, w = avail_h / aspect;
      const double cx = (vx0 + vx1) / 2, cy = (vy0 + vy1) / 2;
      vx0 = cx - fx(w) / 2, vx1 = cx + fx(w) / 2, vy0 = cy - fy(h) / 2, vy1 = cy + fy(h) / 2;
    }
    pls_.vpor(vx0, vx1, vy0, vy1);
    pls_.wind(wx0, wx1, wy0, wy1);

    double vmin = 0, vmax = 1;
    if (p.image) {
      std::tie(vmin, vmax) = heatmap_limits(*p.image);
      use_colormap(p.image->colormap);
      // An inverted y range shows low y at the top: keep row 0 there.
      draw_grid(p.image->data, extent[0], extent[1], extent[2], extent[3], vmin, vmax, wy0 > wy1);
    }
    for (const auto& b : p.bars) draw_bars(b);
    for (const auto& l : p.lines) draw_line(l);
    for (const auto& r : p.rects) draw_rect(r);

    set_colour(colours::black);
    pls_.width(1);
    if (p.axes) pls_.box("bcnst", 0, 0, "bcnstv", 0, 0);
    if (!p.title.empty()) {
      pls_.schr(0, p.title_size * base_char_ / 2.6);
      pls_.mtex("t", 0.9, p.title_justify, p.title_justify, plplot_text(p.title).c_str());
      pls_.schr(0, base_char_ / 2.6);
    }
    if (!p.xlabel.empty()) pls_.mtex("b", 3.2, 0.5, 0.5, plplot_text(p.xlabel).c_str());
    if (!p.ylabel.empty()) pls_.mtex("l", p.axes ? 5.2 : 1.2, 0.5, 0.5, plplot_text(p.ylabel).c_str());
    for (const auto& t : p.texts) draw_text(t, wx0, wx1, wy0, wy1);
    if (p.legend) draw_legend(p, wx0, wx1, wy0, wy1);
    if (p.frame) {
      set_colour(*p.frame);
      pls_.width(5);
      pls_.box("bc", 0, 0, "bc", 0, 0);
      pls_.width(1);
    }
    if (colorbar) draw_colorbar(*p.image, vx1, vy0, vy1, vmin, vmax);
  }

  void draw_bars(const Bars& b) {
    check(b.colours.empty() || b.colours.size() == b.x.size(), "figure", "bar colours do not match the bars");
    check(b.x.size() == b.heights.size(), "figure", "bar positions do not match bar heights");
    for (size_t i = 0; i < b.x.size(); ++i) {
      PLFLT xs[4] = {b.x[i] - b.width / 2, b.x[i] + b.width / 2, b.x[i] + b.width / 2, b.x[i] - b.width / 2};
      PLFLT ys[4] = {0, 0, b.heights[i], b.heights[i]};
      set_colour(b.colours.empty() ? b.colour : b.colours[i]);
      pls_.fill(4, xs, ys);
    }
  }

  void draw_line(const Line& l) {
    check(l.x.size() == l.y.size(), "figure", "a line's x and y differ in length");
    if (l.x.empty()) return;
    set_colour(l.colour);
    pls_.width(l.width);
    if (l.markers) {
      pls_.ssym(0, 1.6);  // Hershey 17 is a small filled circle: enlarge it
      pls_.poin(static_cast<PLINT>(l.x.size()), l.x.data(), l.y.data(), 17);
    } else {
      pls_.lsty(l.dashed ? 2 : 1);
      pls_.line(static_cast<PLINT>(l.x.size()), l.x.data(), l.y.data());
      pls_.lsty(1);
    }
    pls_.width(1);
  }

  void draw_rect(const Rect& r) {
    PLFLT xs[5] = {r.x0, r.x1, r.x1, r.x0, r.x0};
    PLFLT ys[5] = {r.y0, r.y0, r.y1, r.y1, r.y0};
    pls_.scol0a(15, r.colour.r, r.colour.g, r.colour.b, std::clamp(r.alpha, 0.0, 1.0));
    pls_.col0(15);
    if (r.filled) {
      pls_.fill(4, xs, ys);
    } else {
      pls_.width(r.width);
      pls_.line(5, xs, ys);
      pls_.width(1);
    }
    pls_.scol0a(15, 0, 0, 0, 1.0);
  }

  void draw_text(const Text& t, double wx0, double wx1, double wy0, double wy1) {
    const double x = t.in_data ? t.x : wx0 + t.x * (wx1 - wx0);
    const double y = t.in_data ? t.y : wy0 + t.y * (wy1 - wy0);
    set_colour(t.colour);
    pls_.schr(0, t.size * base_char_ / 2.6);
    pls_.ptex(x, y, wx1 > wx0 ? 1 : -1, 0, t.justify, plplot_text(t.text).c_str());
    pls_.schr(0, base_char_ / 2.6);
  }

  // Labelled lines, top right: a short stroke of the line's colour and its label.
  void draw_legend(const Panel& p, double wx0, double wx1, double wy0, double wy1) {
    double row = 0;
    for (const auto& l : p.lines) {
      if (l.label.empty()) continue;
      const double y = wy0 + (0.93 - 0.08 * row) * (wy1 - wy0);
      PLFLT xs[2] = {wx0 + 0.56 * (wx1 - wx0), wx0 + 0.62 * (wx1 - wx0)};
      PLFLT ys[2] = {y, y};
      set_colour(l.colour);
      pls_.width(2);
      pls_.line(2, xs, ys);
      pls_.width(1);
      set_colour(colours::black);
      pls_.schr(0, 0.8 * base_char_ / 2.6);
      pls_.ptex(wx0 + 0.64 * (wx1 - wx0), y, 1, 0, 0, plplot_text(l.label).c_str());
      pls_.schr(0, base_char_ / 2.6);
      ++row;
    }
  }

  void draw_colorbar(const Heatmap& h, double vx1, double vy0, double vy1, double vmin, double vmax) {
    const double x0 = vx1 + fx(10), x1 = x0 + fx(12);
    pls_.vpor(x0, x1, vy0, vy1);
    pls_.wind(0, 1, vmin, vmax);
    std::vector<double> ramp(256);
    for (int i = 0; i < 256; ++i) ramp[255 - i] = vmin + (vmax - vmin) * (i + 0.5) / 256;  // row 0 at the top
    draw_grid(Grid2D(256, 1, ramp), 0, 1, vmin, vmax, vmin, vmax);
    set_colour(colours::black);
    pls_.box("bc", 0, 0, "bcmstv", 0, 0);
    if (!h.colorbar_label.empty()) pls_.mtex("r", 3.6, 0.5, 0.5, plplot_text(h.colorbar_label).c_str());
  }
};

void Figure::save(const fs::path& path) const {
  std::string ext = path.extension().string();
  if (!ext.empty()) ext = ext.substr(1);
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  const bool jpeg = ext == "jpg" || ext == "jpeg";
  std::string device;
  if (ext == "png" || jpeg) device = "pngcairo";
  else if (ext == "svg") device = "svgcairo";
  else if (ext == "pdf") device = "pdfcairo";
  else fail(path.string(), "unknown figure format '" + ext + "' (expected png, svg, pdf or jpg)");

  if (path.has_parent_path()) io::make_directories(path.parent_path().string());
  // PLplot writes the file when its stream ends; render under a temporary
  // name and rename, so that a failure leaves nothing at `path`.
  const fs::path tmp = path.parent_path() / ("." + path.filename().string() + ".tmp." + (jpeg ? "png" : ext));
  try {
    {
      FigureRenderer renderer(*this, device, tmp);
      renderer.draw();
    }  // the stream ends here and the file is complete
    std::error_code ec;
    if (!fs::exists(tmp, ec) || fs::file_size(tmp, ec) == 0) fail(path.string(), "the figure could not be written");
    if (jpeg) {
      const cv::Mat image = cv::imread(tmp.string(), cv::IMREAD_COLOR);
      fs::remove(tmp, ec);
      if (image.empty()) fail(path.string(), "the figure could not be rendered");
      const fs::path tmp_jpg = path.parent_path() / ("." + path.filename().string() + ".tmp.jpg");
      if (!cv::imwrite(tmp_jpg.string(), image, {cv::IMWRITE_JPEG_QUALITY, 95}))
        fail(path.string(), "cannot write the JPEG file");
      fs::rename(tmp_jpg, path);
    } else {
      fs::rename(tmp, path);
    }
  } catch (...) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw;
  }
}

}  // namespace fovea::viz
