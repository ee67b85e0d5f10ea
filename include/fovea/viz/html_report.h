#pragma once
// The HTML index of `fovea visualize`: one self-contained page to browse a
// model: its layers and their channels, its sessions and their neurons, each
// with its weight figures, MEI picture and MEI video, and the neurons'
// evaluation figures and metrics (a table sortable by FEVE, filterable).
//
// The page is plain HTML + JavaScript with no network access: all data is
// embedded in it as one JSON object, so it works opened straight from disk
// (file://). Images and videos are referenced by paths relative to the page.
// When the page has rendered, <body data-status="ok">; a script error sets
// data-status to "error: <message>" (so a headless browser can check it).
//
// Deep links: index.html#detail/s<S>-n<N> opens neuron N of the S-th session
// (0-based position in `sessions`), index.html#detail/l<L>-c<C> channel C of
// the L-th layer; #session-<S> and #layer-<L> scroll to a session or layer.
#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace fovea::viz {

// Every image or video path is relative to the report's directory (an
// absolute path inside it is made relative); an empty path means "not
// produced" and shows a placeholder, as does a path whose file is missing.

struct ReportChannel {
  int64_t index = 0;
  std::vector<std::string> weight_images;  // e.g. one per input channel
  std::string mei_image, mei_video;
};

struct ReportLayer {
  std::string name;  // "features.layer0"
  int64_t in_channels = 0, out_channels = 0;
  std::string description;                  // e.g. "3-D space-time separable conv 2→16, 11×11×11"
  std::vector<std::string> summary_images;  // figures of the whole layer, shown above its channels
  std::vector<ReportChannel> channels;
};

struct ReportNeuron {
  int64_t index = 0;
  std::string weight_image, mei_image, mei_video;
  std::vector<std::string> evaluation_images;
  // Numeric columns of the session's table ("feve", "correlation", "oracle",
  // ...); a non-finite value shows as "–" and sorts last. May be empty.
  std::map<std::string, double> metrics;
  // Text columns, e.g. {"cell_type": "ON sustained"}. May be empty.
  std::map<std::string, std::string> labels;
};

struct ReportSession {
  std::string name;
  std::vector<std::string> summary_images;  // e.g. readout positions, FEVE histogram of this session
  std::vector<ReportNeuron> neurons;
};

struct ModelReport {
  std::string title;
  std::string model_path;
  nlohmann::json info;  // architecture summary: key/values shown in a header table (nested objects nest)
  std::vector<std::string> summary_images;  // e.g. FEVE histogram
  std::vector<ReportLayer> layers;
  std::vector<ReportSession> sessions;
};

// The page as a string; `dir` is the directory the page will live in (paths
// are resolved against it to mark missing files). Throws fovea::Error when a
// session lists a neuron index twice or a layer a channel index twice.
std::string render_html_report(const ModelReport& report, const std::filesystem::path& dir);

// Writes dir/index.html atomically (creating dir if needed) and returns its path.
std::filesystem::path write_html_report(const ModelReport& report, const std::filesystem::path& dir);

}  // namespace fovea::viz
