#pragma once
// Figures of stimuli: the composition of a movie (openretina's
// plot_stimulus_composition) and images (V1 MEIs, top images).
#include <ATen/core/Tensor.h>

#include <optional>
#include <string>

#include "fovea/viz/figure.h"

namespace fovea::viz {

// The colour of channel c of a C-channel stimulus as the reference draws it:
// grey; darkgreen and darkviolet (green, UV); red, green, blue.
Rgb channel_colour(int64_t channel, int64_t n_channels);

// openretina's plot_stimulus_composition for a movie (C, T, H, W): the
// temporal trace of each channel's rank-1 SVD (time in s at 30 Hz), the
// amplitude spectrum of the low-passed trace with its weighted mean
// frequency, and the spatial maps side by side (symmetric RdBu_r). With
// `microns_per_pixel`, a 50 µm scale bar is drawn under the maps.
Figure stimulus_composition_figure(const at::Tensor& movie, const std::string& title,
                                   std::optional<double> microns_per_pixel = std::nullopt);

// An image stimulus (C, H, W): one grey picture per channel, symmetric around 0.
Figure image_stimulus_figure(const at::Tensor& image, const std::string& title);

}  // namespace fovea::viz
