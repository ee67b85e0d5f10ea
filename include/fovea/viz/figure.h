#pragma once
// A figure: panels of heat maps, lines, bars and text, laid out on a page and
// saved as PNG, SVG, PDF or JPEG. The figure only records what to draw;
// save() replays it through PLplot's cairo drivers, so one figure can be
// written in several formats. This is the small part of matplotlib that the
// reference systems' figures use (imshow, plot, bar, colour bars, text).
//
// PLplot keeps global state and is not thread-safe: draw from one thread.
#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace fovea::viz {

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
};

// The colours the reference figures use, by their matplotlib names.
namespace colours {
inline constexpr Rgb black{0, 0, 0};
inline constexpr Rgb grey{128, 128, 128};
inline constexpr Rgb light_grey{200, 200, 200};
inline constexpr Rgb darkgreen{0, 100, 0};
inline constexpr Rgb darkviolet{148, 0, 211};
inline constexpr Rgb red{214, 39, 40};
inline constexpr Rgb blue{31, 119, 180};
inline constexpr Rgb pure_red{255, 0, 0};
inline constexpr Rgb pure_green{0, 128, 0};
inline constexpr Rgb pure_blue{0, 0, 255};
inline constexpr Rgb orange{255, 127, 14};
// matplotlib's default cycle ("tab10"), for series without a natural colour.
Rgb cycle(size_t index);
}  // namespace colours

// A dense 2-D array, row-major. Row 0 is drawn at the top, as imshow does.
struct Grid2D {
  int64_t rows = 0, cols = 0;
  std::vector<double> values;  // rows * cols
  Grid2D() = default;
  Grid2D(int64_t rows, int64_t cols, std::vector<double> values);
  double operator()(int64_t r, int64_t c) const { return values[static_cast<size_t>(r * cols + c)]; }
};

enum class Colormap { RdBu_r, Gray, Viridis };

struct Heatmap {
  Grid2D data;
  Colormap colormap = Colormap::RdBu_r;
  // Colour limits. When absent: ±max|x| for RdBu_r (zero is white), the data range otherwise.
  std::optional<double> vmin, vmax;
  bool colorbar = false;
  std::string colorbar_label;
  // The axis coordinates of the image's edges (x0, x1, y0, y1); default: the
  // pixel edges, x from 0 to cols and y from rows (top) to 0 (bottom).
  // Row 0 is drawn at the top of the panel whatever the y range: with an
  // inverted panel ylim (first > second) the image keeps its orientation and
  // the y axis counts downwards, as matplotlib's imshow axes do, e.g.
  // extent (−0.5, cols − 0.5, rows − 0.5, −0.5) with ylim (rows − 0.5, −0.5)
  // puts pixel (r, c) at (c, r) as imshow does (imshow_axes() sets this up).
  std::optional<std::array<double, 4>> extent;
};

struct Line {
  std::vector<double> x, y;
  Rgb colour = colours::black;
  double width = 1.5;
  std::string label;      // shown in the legend when the panel has one
  bool dashed = false;
  bool markers = false;   // draw points (a scatter) instead of a line
};

struct Bars {
  std::vector<double> x, heights;
  Rgb colour = colours::grey;
  std::vector<Rgb> colours;  // one per bar; overrides `colour` when not empty
  double width = 0.8;        // in x units
};

struct Text {
  double x = 0, y = 0;  // axis fractions (0..1) of the panel unless in_data is set
  std::string text;
  Rgb colour = colours::black;
  double size = 1.0;         // relative to the default character height
  double justify = 0.0;      // 0 left, 0.5 centre, 1 right
  bool in_data = false;
};

// A rectangle in data coordinates (matplotlib's Rectangle patch, or
// fill_betweenx over a y range): filled, or an outline of `width`. `alpha`
// blends the colour with what is under it (0.1 gives a light shade).
// Rectangles are drawn after the lines and do not widen automatic limits.
struct Rect {
  double x0 = 0, y0 = 0, x1 = 1, y1 = 1;
  Rgb colour = colours::black;
  bool filled = true;
  double alpha = 1.0;
  double width = 1.0;  // outline width when not filled
};

struct Panel;
// Sets up `panel` as matplotlib's imshow(data) draws it: pixel (r, c) centred
// at data (c, r), x from −0.5 to cols − 0.5, y downwards from −0.5 to
// rows − 0.5, with ticks (matplotlib's default; no ticks without `ticks`).
void imshow_axes(Panel& panel, bool ticks = true);

struct Panel {
  std::string title, xlabel, ylabel;
  std::optional<Heatmap> image;
  std::vector<Bars> bars;
  std::vector<Line> lines;
  std::vector<Text> texts;
  std::optional<std::pair<double, double>> xlim, ylim;
  bool axes = true;           // box, ticks and tick labels; image grids turn them off
  bool legend = false;        // the labels of the lines, top right
  bool equal_aspect = true;   // for images: square pixels
  std::optional<Rgb> frame;   // a thick coloured border (e.g. channel frames of top-image plots)
  double title_size = 1.0;
  double title_justify = 0.5;  // 0 puts the title at the panel's left edge
  std::vector<Rect> rects;
};

class Figure {
 public:
  Figure(int width_px, int height_px);

  void set_title(std::string title) { title_ = std::move(title); }

  // A panel in cell (row, col) of a rows × cols grid, spanning row_span × col_span cells.
  Panel& add_panel(int rows, int cols, int row, int col, int row_span = 1, int col_span = 1);
  // A panel at explicit page fractions (x0 < x1, y0 < y1, y from the bottom),
  // margins for labels included.
  Panel& add_panel_at(double x0, double x1, double y0, double y1);

  // Writes the figure; the format follows the extension: .png, .svg, .pdf,
  // .jpg or .jpeg. Written to a temporary name and renamed, so a failure
  // never leaves a partial file. fovea::Error on an unknown extension, on
  // non-finite data, or when the file cannot be written.
  void save(const std::filesystem::path& path) const;

  int width() const { return width_; }
  const std::string& title() const { return title_; }
  // The panels in the order they were added (for inspection, e.g. by tests).
  const Panel& panel(size_t index) const;
  int height() const { return height_; }
  size_t panel_count() const { return panels_.size(); }

 private:
  struct Placed {
    double x0, x1, y0, y1;
    Panel panel;
  };
  int width_, height_;
  std::string title_;
  std::vector<std::unique_ptr<Placed>> panels_;  // pointers keep references from add_panel valid
  friend class FigureRenderer;
};

// The image formats figures can be written in (extensions without the dot).
const std::vector<std::string>& figure_formats();

}  // namespace fovea::viz
