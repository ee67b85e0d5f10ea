#pragma once
// Figures of stimuli: the composition of a movie (openretina's
// plot_stimulus_composition) and images (V1 MEIs, top images).
#include <ATen/core/Tensor.h>

#include <optional>
#include <string>
#include <utility>

#include "fovea/viz/figure.h"

namespace fovea::viz {

// The colour of channel c of a C-channel stimulus as the reference draws it:
// black (grey stimuli); darkgreen and darkviolet (green, UV); red, green,
// blue. Other channel counts (the reference raises KeyError) take
// matplotlib's default colour cycle.
Rgb channel_colour(int64_t channel, int64_t n_channels);
// The channel's name in the reference's titles: "Grey"; "Green", "UV";
// "Red", "Green", "Blue"; "Channel <c>" for other channel counts.
std::string channel_name(int64_t channel, int64_t n_channels);

// A window of frames (first, last; indices into the movie's time axis) to
// shade in the temporal panel.
using FrameWindow = std::pair<int64_t, int64_t>;

// openretina's plot_stimulus_composition for a movie (C, T, H, W), on a
// figsize (21, 12) page of 2 × 2 panels:
//   [0,0] "Temporal Trace of the Stimulus": the temporal trace of each
//         channel's rank-1 SVD against linspace(0, T/30, T) s ("Time [s]"),
//         y-limits (−M, M + 1) with M the largest |trace| value; `highlight`
//         (first, last frame) is shaded over the whole y range, black at
//         alpha 0.1 (fill_betweenx from x[first] to x[last]);
//   [0,1] "Weighted Frequency: a/b Hz (Green/UV)": the amplitude spectrum of
//         each low-passed trace ("Frequency [Hz]", x-limits (0, 11)), with each
//         channel's weighted mean frequency (one decimal) in the title;
//   [1,0] "Spatial Component (Green/UV)": the spatial maps side by side, one
//         H × (C·W) RdBu_r image in ±max|maps| (1), a black outline per
//         channel, a filled black scale bar at data (6, 15) of width 1 (4 when
//         W > 20) and height 1 with "50 µm" at (6, 14), no axes;
//   [1,1] an empty axes, as the reference leaves it.
// `title` (fovea's; "" for none, as the reference) goes on top. With
// `microns_per_pixel`, the scale bar is 50 µm / microns_per_pixel pixels wide
// instead of the reference's fixed width. fovea::Error for a highlight
// outside the movie's frames or with last < first (the reference raises
// IndexError there).
Figure stimulus_composition_figure(const at::Tensor& movie, const std::string& title,
                                   std::optional<double> microns_per_pixel = std::nullopt,
                                   std::optional<FrameWindow> highlight = std::nullopt);

// An image stimulus (C, H, W): one grey picture per channel, symmetric around 0.
Figure image_stimulus_figure(const at::Tensor& image, const std::string& title);

}  // namespace fovea::viz
