#pragma once
// The tutorial's plot_maxstim: a V1 neuron's top images (masked by its
// receptive field) and, per readout channel it uses, that channel's top
// images, framed red for positive and blue for negative channel weights.
#include <ATen/core/Tensor.h>

#include <string>

#include "fovea/insilico/top_images.h"
#include "fovea/viz/figure.h"

namespace fovea::viz {

// `images` (n, [1,] H, W) as given to insilico::top_images. Shows the 16 top
// images in a 4×4 grid and at most 8 channels: the 6 with the most positive
// and the 2 with the most negative Wc, as the tutorial does.
Figure top_images_figure(const insilico::TopImages& top, const at::Tensor& images, const std::string& title);

}  // namespace fovea::viz
