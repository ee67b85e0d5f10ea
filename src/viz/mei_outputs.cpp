#include "fovea/viz/mei_outputs.h"

#include "fovea/io/atomic_file.h"
#include "fovea/io/npy.h"
#include "fovea/viz/stimulus_figures.h"
#include "fovea/viz/video.h"

namespace fs = std::filesystem;

namespace fovea::viz {

MeiFiles mei_file_names(const std::string& stem, bool movie, const MeiOutputOptions& options) {
  MeiFiles files;
  files.stimulus = stem + ".npy";
  if (movie && options.video) files.video = stem + ".mp4";
  if (options.figure) files.figure = stem + "." + options.format;
  return files;
}

MeiFiles save_mei(const insilico::MeiResult& mei, const fs::path& dir, const std::string& stem,
                  const std::string& title, const MeiOutputOptions& options) {
  io::make_directories(dir.string());
  MeiFiles files;
  files.stimulus = stem + ".npy";
  io::write_npy((dir / files.stimulus).string(), mei.stimulus);
  const bool movie = mei.stimulus.dim() == 4;
  if (movie && options.video) {
    files.video = stem + ".mp4";
    write_stimulus_video(mei.stimulus, dir / files.video, options.fps, options.video_upscale);
  }
  if (options.figure) {
    files.figure = stem + "." + options.format;
    const Figure fig = movie ? stimulus_composition_figure(mei.stimulus, title, std::nullopt, options.highlight) : image_stimulus_figure(mei.stimulus, title);
    fig.save(dir / files.figure);
  }
  return files;
}

}  // namespace fovea::viz
