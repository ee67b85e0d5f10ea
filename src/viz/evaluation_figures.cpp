#include "fovea/viz/evaluation_figures.h"

#include <torch/torch.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "fovea/error.h"
#include "fovea/viz/weight_figures.h"

namespace fovea::viz {

namespace {
std::vector<double> finite_only(const std::vector<double>& v) {
  std::vector<double> out;
  for (double x : v)
    if (std::isfinite(x)) out.push_back(x);
  return out;
}
double median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}
}  // namespace

Figure metric_histogram_figure(const std::vector<double>& values, const std::string& metric, const std::string& title,
                               int bins) {
  check(bins > 0, "figure", "a histogram needs at least one bin");
  const auto v = finite_only(values);
  Figure fig(560, 380);
  const size_t left_out = values.size() - v.size();
  fig.set_title(title + (left_out ? fmt::format(" ({} without a value)", left_out) : ""));
  Panel& p = fig.add_panel(1, 1, 0, 0);
  p.xlabel = metric;
  p.ylabel = "neurons";
  if (v.empty()) {
    p.texts.push_back(Text{0.5, 0.5, "no finite values", colours::black, 1.0, 0.5});
    p.xlim = std::make_pair(0.0, 1.0), p.ylim = std::make_pair(0.0, 1.0);
    return fig;
  }
  double lo = *std::min_element(v.begin(), v.end()), hi = *std::max_element(v.begin(), v.end());
  if (hi == lo) lo -= 0.5, hi += 0.5;
  const double width = (hi - lo) / bins;
  std::vector<double> centres(bins), counts(bins, 0.0);
  for (int b = 0; b < bins; ++b) centres[b] = lo + (b + 0.5) * width;
  for (double x : v) counts[std::min(bins - 1, static_cast<int>((x - lo) / width))] += 1;
  p.bars.push_back(Bars{centres, counts, colours::grey, {}, width * 0.95});
  const double m = median(v);
  const double top = *std::max_element(counts.begin(), counts.end());
  p.lines.push_back(Line{{m, m}, {0, top}, colours::red, 2, fmt::format("median {:.3f}", m), true});
  p.legend = true;
  return fig;
}

Figure model_comparison_figure(const std::vector<double>& a, const std::vector<double>& b, const std::string& a_name,
                               const std::string& b_name, const std::string& metric) {
  check(a.size() == b.size(), "figure", "the two models must have the same neurons");
  std::vector<double> x, y;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::isfinite(a[i]) && std::isfinite(b[i])) x.push_back(a[i]), y.push_back(b[i]);
  Figure fig(460, 460);
  fig.set_title(metric + fmt::format(" per neuron (n = {})", x.size()));
  Panel& p = fig.add_panel(1, 1, 0, 0);
  p.xlabel = a_name;
  p.ylabel = b_name;
  double lo = 0, hi = 1;
  if (!x.empty()) {
    lo = std::min(*std::min_element(x.begin(), x.end()), *std::min_element(y.begin(), y.end()));
    hi = std::max(*std::max_element(x.begin(), x.end()), *std::max_element(y.begin(), y.end()));
  }
  p.lines.push_back(Line{{lo, hi}, {lo, hi}, colours::grey, 1, "", true});
  p.lines.push_back(Line{x, y, colours::blue, 1, "", false, true});
  return fig;
}

Figure prediction_figure(const at::Tensor& recorded, const at::Tensor& predicted, const std::string& title,
                         const std::string& xlabel) {
  const auto r = to_vector(recorded), p = to_vector(predicted);
  check(r.size() == p.size(), "figure", "recorded and predicted responses differ in length");
  const at::Tensor rt = recorded.detach().reshape({-1}).to(at::kDouble), pt = predicted.detach().reshape({-1}).to(at::kDouble);
  const double corr = at::corrcoef(at::stack({rt, pt}))[0][1].item<double>();
  Figure fig(1000, 320);
  fig.set_title(title + (std::isfinite(corr) ? fmt::format(" (correlation {:.3f})", corr) : ""));
  Panel& panel = fig.add_panel(1, 1, 0, 0);
  panel.xlabel = xlabel;
  panel.ylabel = "response";
  std::vector<double> x(r.size());
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<double>(i);
  panel.lines.push_back(Line{x, r, colours::black, 2.0, "recorded"});
  panel.lines.push_back(Line{x, p, colours::orange, 1.5, "model"});
  panel.legend = true;
  return fig;
}

Figure receptive_field_figure(const at::Tensor& weights, const std::string& title) {
  check(weights.defined() && weights.dim() == 2, "figure", "a receptive field must be (height, width)");
  const double aspect = static_cast<double>(weights.size(1)) / static_cast<double>(weights.size(0));
  Figure fig(static_cast<int>(std::clamp(300 * aspect, 300.0, 900.0)) + 120, 340);
  fig.set_title(title);
  Panel& p = fig.add_panel(1, 1, 0, 0);
  p.image = Heatmap{to_grid(weights), Colormap::RdBu_r};
  p.image->colorbar = true;
  p.axes = false;
  return fig;
}

}  // namespace fovea::viz
