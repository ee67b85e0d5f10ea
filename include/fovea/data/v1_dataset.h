#pragma once
// The minimodel on-disk layout for mouse V1 recordings, read and preprocessed
// exactly as minimodel's data.py does:
//  - images: a .mat file with key `img` (Ly x Lx_full x N, e.g. 66x264x68000)
//    or an .npy of shape (N, Ly, Lx_full);
//  - responses: an .npz with `sp` (neurons, trials), `istim_sp` (trials,),
//    `ss_all` (test images, repeats, neurons), `istim_ss` (test images,),
//    `xpos`, `ypos` (neurons,).
// Preprocessing: crop x to [crop_x0, crop_x1), bilinear resize as cv2.resize
// by 1/downsample, one global z-score over all images; responses divided by
// their per-neuron std over training trials (ddof 0, floor 0.01), the test
// repeats by the same; validation = every 10th training trial; FEV per neuron
// on the test repeats, and the mask of neurons above the FEV threshold.
#include <ATen/core/Tensor.h>

#include <string>

namespace fovea::data {

struct V1LoadOptions {
  std::string images_path;     // .mat (key `img`) or .npy
  std::string responses_path;  // .npz
  int crop_x0 = 0;             // minimodel: 0 (FX20: 46)
  int crop_x1 = 130;           // minimodel: 130 (FX20: 176); clipped to the image width
  double downsample = 1.0;     // >1 shrinks with bilinear resize (cv2.INTER_LINEAR)
  bool normalize_images = true;
  double fev_threshold = 0.15;
  double train_fraction = 0.9;  // validation = every round(1/(1-f))-th trial
};

struct V1Dataset {
  at::Tensor images;              // (N_images, Ly, Lx) float32, preprocessed
  at::Tensor train_responses;     // (trials, neurons) float32, divided by train std
  at::Tensor train_image_index;   // (trials,) int64 index into images
  at::Tensor test_responses;      // (test images, repeats, neurons) float32, same scaling
  at::Tensor test_image_index;    // (test images,) int64
  at::Tensor response_std;        // (neurons,) the divisor used
  at::Tensor xpos, ypos;          // (neurons,) float32
  at::Tensor itrain, ival;        // int64 indices into trials (train / validation split)
  at::Tensor fev;                 // (neurons,) float64 on the test repeats
  at::Tensor good_neurons;        // (neurons,) bool: fev > fev_threshold
  std::string origin;             // the responses file, for messages

  int64_t n_neurons() const { return train_responses.size(1); }
  // Images for a set of trials (train/val): (n, 1, Ly, Lx).
  at::Tensor trial_images(const at::Tensor& trials) const;
  at::Tensor test_images() const;  // (test images, 1, Ly, Lx)
};

V1Dataset load_v1_dataset(const V1LoadOptions& options);

// minimodel's split: validation = every k-th index starting at 0, k = round(1/(1-train_fraction)).
void split_train_val(int64_t n_trials, double train_fraction, at::Tensor& itrain, at::Tensor& ival);

}  // namespace fovea::data
