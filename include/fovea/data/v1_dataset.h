#pragma once
// The minimodel on-disk layout for mouse V1 recordings, read and preprocessed
// exactly as minimodel's data.py does:
//  - images: a .mat file with key `img` (Ly x Lx_full x N, e.g. 66x264x68000)
//    or an .npy of shape (N, Ly, Lx_full);
//  - responses: an .npz with `sp` (neurons, trials), `istim_sp` (trials,),
//    `ss_all` (test images, repeats, neurons), `istim_ss` (test images,),
//    `xpos`, `ypos` (neurons,).
// Preprocessing: bilinear resize as cv2.resize to (int(Lx // downsample),
// int(Ly // downsample)), then crop x to [int(crop_x0 // downsample),
// int(crop_x1 // downsample)) (minimodel resizes first, then crops), one
// global z-score over all images; responses divided by their per-neuron std
// over training trials (ddof 0, floor 0.01), the test repeats by the same;
// validation = every 10th training trial; FEV per neuron on the test
// repeats, and the mask of neurons above the FEV threshold.
// (minimodel also cuts x at int(176 // downsample), "left and middle
// screen"; with crop_x1 <= 176 that cut changes nothing, so it is left out.)
// Every problem with the files is a fovea::Error of one line that names the
// file and the problem ("responses.npz: sp contains 12 NaN values").
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
  double train_fraction = 0.9;  // validation = every int(1/(1-f))-th trial, as minimodel
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

// minimodel's split: validation = every k-th index starting at 0,
// k = int(1/(1-train_fraction)) truncated as Python's int() does (0.9 -> 10).
// Throws fovea::Error when train_fraction is outside (0, 1) or k < 2 (no
// training trials would be left).
void split_train_val(int64_t n_trials, double train_fraction, at::Tensor& itrain, at::Tensor& ival);

// ---- the steps of load_v1_dataset, named as in minimodel's data.py ----

// minimodel's load_images: (N, Ly', Lx') float32 from a .mat (`img`,
// Ly x Lx x N, transposed) or an .npy (N, Ly, Lx); resize, crop and z-score
// as described above. Any numeric dtype is read and converted to float32.
at::Tensor load_images(const std::string& path, int crop_x0 = 0, int crop_x1 = 130, double downsample = 1.0,
                       bool normalize = true);

// The target size of cv2.resize in load_images: int(n // downsample), with
// Python's float floor division.
int64_t downsampled_size(int64_t n, double downsample);

// minimodel's load_neurons (without its mouse-specific trial filters): the
// arrays of the responses .npz, checked for keys, dimensions, consistent
// sizes, at least 2 test repeats, and NaN/Inf.
struct V1Neurons {
  at::Tensor spks;          // (trials, neurons) float32: `sp` transposed
  at::Tensor istim_sp;      // (trials,) int64
  at::Tensor spks_rep_all;  // (test images, repeats, neurons) float32: `ss_all`
  at::Tensor istim_ss;      // (test images,) int64
  at::Tensor xpos, ypos;    // (neurons,) float32
};
V1Neurons load_neurons(const std::string& path);

// minimodel's normalize_spks: replaces `spks` (trials, neurons) and
// `spks_rep` (test images, repeats, neurons) by themselves divided by the
// per-neuron std of spks[itrain] (ddof 0, values below 0.01 set to 0.01);
// returns that std (neurons,) float32. No mean is subtracted.
at::Tensor normalize_spks(at::Tensor& spks, at::Tensor& spks_rep, const at::Tensor& itrain);

}  // namespace fovea::data
