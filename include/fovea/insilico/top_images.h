#pragma once
// "Maximum stimuli" of a V1 neuron from the training images (minimodel's
// analyses and the course tutorial, section 8 "Preferred Stimuli"): no
// optimisation, only ranking. For a model with minimodel's rank-1 readout
// (Wy ⊗ Wx ⊗ Wc):
//   * the images ranked by the model's prediction for the neuron;
//   * each core channel's activity under the neuron's spatial pooling,
//     activity[n, c] = Σ_{y,x} Wy[neuron, y] · Wx[neuron, x] · core(image n)[c, y, x]
//     (the tutorial's einsum('ry,rx,ncyx->nc')), so that the neuron's drive is
//     Σ_c Wc[neuron, c] · activity[n, c] + bias;
//   * the channels that matter (|Wc| > threshold), ordered by Wc, most
//     positive first (plot_maxstim's argsort(Wc)[::-1]: the figure shows the
//     first 6 and the last 2), each with its top images;
//   * minimodel's get_image_mask: a soft elliptical window around the
//     neuron's receptive field, to multiply the images with for display.
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <cstdint>
#include <vector>

#include "fovea/nn/model.h"

namespace fovea::nn {
class Rank1Readout;
}

namespace fovea::insilico {

struct TopImagesOptions {
  int64_t n_top = 16;          // images for the neuron (plot_maxstim shows 16)
  int64_t n_channel_top = 8;   // images per channel (the tutorial's 8)
  double wc_threshold = 0.01;  // |Wc| > this, in float32 as numpy: minimodel's "channels used"; the tutorial uses 0.3
  int64_t batch_size = 100;
  c10::Device device = c10::Device(c10::kCPU);
};

struct TopImages {
  int64_t neuron = 0;
  at::Tensor predictions;            // (n_images,) float32: the model's response to each image
  std::vector<int64_t> image_order;  // every image index, by prediction, highest first
  std::vector<int64_t> top_images;   // the first n_top of image_order
  at::Tensor channel_activity;       // (n_images, C) float32, C = core channels
  std::vector<int64_t> channels;     // the channels with |Wc| > threshold, by Wc descending
  std::vector<double> channel_wc;    // Wc[neuron, c] for each of `channels`
  std::vector<std::vector<int64_t>> channel_top_images;  // per entry of `channels`: its n_channel_top images, highest activity first
  at::Tensor image_mask;             // (H, W) float32 in [0, 1]: image_mask() of the neuron
};

// `images`: (n, 1, H, W) or (n, H, W), the size the model was built for;
// they may live on the CPU (each batch goes to options.device). Ties keep
// the lower image or channel index first. fovea::Error for a neuron out of
// range, a model whose readout is not rank-1, or images of another shape.
TopImages top_images(nn::Model& model, const at::Tensor& images, int64_t neuron, const TopImagesOptions& options = {});

// minimodel utils.weight_bandwidth(w, return_peak=True): w is linearly
// interpolated to 2·len(w) points on [0, len(w) − 1], smoothed by a Gaussian
// (σ = 3 samples, truncated at 10σ, scipy.ndimage's 'reflect' edges), and the
// half-maximum points are the samples closest in value to half the peak on
// each side (over the whole side, not the nearest crossing, as the reference).
// bandwidth = (right − left)·n/(2n), center = (right + left)·n/(2n)/2, in
// units of the original samples (the reference's approximation: the new
// samples are (n−1)/(2n−1) apart, not 1/2).
struct Bandwidth {
  double bandwidth = 0;
  double center = 0;
};
Bandwidth weight_bandwidth(const std::vector<double>& w);

// minimodel utils.get_image_mask for `neuron` (the reference always took
// neuron 0, and hard-coded the image-to-feature-map scale 2 of the pooled
// core; here the scale is height / Ly and width / Lx, which is 2 for
// minimodel's models, where the result equals the reference's):
//   1. Wxy = Wy[neuron] ⊗ Wx[neuron] / max|·| on the feature grid (Ly, Lx);
//   2. crop rows center_y ± ⌊bandwidth_y⌋, columns center_x ± ⌊bandwidth_x⌋
//      (weight_bandwidth of Wy and Wx; Python int() truncation, clipped);
//   3. bilinear resize (cv2.resize) to (scale·size + 25) in each direction,
//      min–max scale to [0, 1], multiply by the inscribed filled ellipse;
//   4. paste it, clipped, into a zero (height, width) image centred at
//      scale·center.
// A flat crop (max = min, where the reference divides by zero) becomes 1
// inside the ellipse. Computed in float32 as the reference.
at::Tensor image_mask(const nn::Rank1Readout& readout, int64_t neuron, int64_t height, int64_t width);

}  // namespace fovea::insilico
