#pragma once
// The files of one MEI: the stimulus (.npy), a video of it (.mp4, movies
// only) and its figure (the composition of a movie, the picture of an image).
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>

#include "fovea/insilico/mei.h"

namespace fovea::viz {

struct MeiFiles {
  std::string stimulus, video, figure;  // relative to the folder; video is "" for images
};

struct MeiOutputOptions {
  std::string format = "png";  // figure format
  double fps = 5;              // the reference's video frame rate
  int video_upscale = 8;       // nearest-neighbour enlargement of the video frames
  bool video = true, figure = true;
  // Stimulus frames (first, last) shaded in the composition figure's
  // temporal panel: the frames the objective reads (openretina's fill_betweenx).
  std::optional<std::pair<int64_t, int64_t>> highlight;
};

// The files save_mei writes for a stimulus (a movie or an image), by name.
MeiFiles mei_file_names(const std::string& stem, bool movie, const MeiOutputOptions& options = {});

// Writes <dir>/<stem>.npy, <stem>.mp4 and <stem>.<format>, each atomically.
MeiFiles save_mei(const insilico::MeiResult& mei, const std::filesystem::path& dir, const std::string& stem,
                  const std::string& title, const MeiOutputOptions& options = {});

}  // namespace fovea::viz
