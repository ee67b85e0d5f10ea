#pragma once
// Stimuli as mp4 videos, as openretina's save_stimulus_to_mp4_video
// (utils/plotting.py): the whole stimulus is min–max scaled to 0..255 and
// truncated to uint8, then each frame is written as an OpenCV BGR image:
//   1 channel  -> grey (the channel in all three planes),
//   2 channels -> plane 1 (green) = channel 0, plane 2 (red) = channel 1,
//                 plane 0 (blue) = 0 (the retina's green/UV stimuli),
//   3 channels -> planes 0, 1, 2 = channels 0, 1, 2 (the reference's comments
//                 call plane 0 "Red", but OpenCV's plane 0 is blue; fovea
//                 writes what the reference writes).
// A constant stimulus (max = min, where the reference divides by zero) is
// written black.
#include <ATen/core/Tensor.h>

#include <filesystem>
#include <string>
#include <vector>

namespace fovea::viz {

// What was written.
struct VideoInfo {
  std::string codec;  // the FourCC the writer opened with: "avc1" (H.264) or "mp4v"
  int width = 0;      // frame size in the file, pixels (see write_stimulus_video)
  int height = 0;
  int frames = 0;
};

// Writes `stimulus` (C, T, H, W), C in 1..3, T ≥ 1, finite values, to `mp4`
// at `fps` frames per second. Each frame is enlarged `upscale` times by
// nearest-neighbour (each pixel becomes an upscale×upscale block), so that an
// 18×16 retina stimulus is visible; 1 = the reference's size. H.264 and
// MPEG-4 encoders store only even frame sizes (OpenCV's writer silently
// crops an odd row or column), so an odd H·upscale or W·upscale is padded by
// one copy of the last row or column: the file's frame is
// (H·upscale rounded up to even) × (W·upscale rounded up to even).
// The codec is H.264 ('avc1', which browsers play) when the writer opens
// with it, else 'mp4v' (the reference's). The file is written under a
// temporary name in the same directory and renamed into place, so `mp4`
// is either the whole video or untouched. Errors (wrong rank, C > 3, no
// frames, non-finite values, upscale < 1, fps ≤ 0, the writer cannot open)
// are fovea::Errors naming the file.
VideoInfo write_stimulus_video(const at::Tensor& stimulus, const std::filesystem::path& mp4, double fps = 5,
                               int upscale = 1);

// The same with the codecs to try, in order (FourCC strings of 4 letters);
// the tests use it to exercise the 'mp4v' fallback.
VideoInfo write_stimulus_video_with_codecs(const at::Tensor& stimulus, const std::filesystem::path& mp4, double fps,
                                           int upscale, const std::vector<std::string>& codecs);

}  // namespace fovea::viz
