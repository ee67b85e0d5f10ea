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
#include <vector>

namespace fovea::data {

struct V1LoadOptions {
  std::string images_path;     // .mat (key `img`) or .npy
  std::string responses_path;  // .npz
  // minimodel's published files by mouse (see minimodel_mice.h): with `mouse`
  // set, use_minimodel_mouse fills the empty paths from `dir`.
  std::string mouse;
  std::string dir;
  // The on-disk layout: "" (minimodel's mouse files, above) or
  // "monkey_cadena_2019" (monkey_v1_dataset.h: one .npz, `responses_path` or
  // dir/monkeyv1_cadena_2019.npz; the image options below do not apply).
  std::string layout;
  // The responses file is a text16_{mname}_{datexp}.npz (texture trials):
  // keys sp, istim, labels, ss_all, ss_istim, ss_labels.
  bool textures = false;
  // minimodel's load_neurons trial filters on the training trials:
  // fixtrain keeps istim < 30000 (the unflipped natural images) and wins over
  // drop_flipped_test_images, which drops 30000 <= istim <= 30500 (L1_A1).
  bool fixtrain = false;
  bool drop_flipped_test_images = false;
  // Neurons kept after FEV and normalisation (indices into the file's
  // neurons); empty: all. With select_by_fev, those with FEV > fev_threshold
  // (the course keeps FEV > 0.4). Both at once is an error.
  std::vector<int64_t> neurons;
  bool select_by_fev = false;
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
  at::Tensor neuron_index;        // (neurons,) int64: each neuron's index in the responses file
  int64_t neurons_in_file = 0;    // neurons in the responses file
  at::Tensor train_labels;        // (trials,) int64 texture class of each trial (textures only)
  at::Tensor test_labels;         // (test images,) int64 (textures only)
  // Recordings with missing trials (the monkey layout): which training
  // responses are real, (trials, neurons) bool; the others are 0 and left out
  // of the loss and the validation score. Undefined: every response is real.
  // Missing test trials are NaN in test_responses.
  at::Tensor real_responses;
  // (neurons,) int64: how many of the test repeats count for each neuron
  // (minimodel's monkey_feve); undefined: all of them.
  at::Tensor repetitions;
  std::string origin;             // the responses file, for messages

  // True when some of the file's neurons were left out.
  bool is_neuron_subset() const { return neuron_index.defined() && n_neurons() != neurons_in_file; }

  int64_t n_neurons() const { return train_responses.size(1); }
  // Images for a set of trials (train/val): (n, 1, Ly, Lx).
  at::Tensor trial_images(const at::Tensor& trials) const;
  at::Tensor test_images() const;  // (test images, 1, Ly, Lx)
};

V1Dataset load_v1_dataset(const V1LoadOptions& options);

// Fills the empty image/response paths from minimodel's file names for
// options.mouse in options.dir, the crop from the mouse's xrange unless
// `crop_given`, and L1_A1's trial filter. fovea::Error naming `field` for an
// unknown mouse (listing the known ones), for textures of a mouse without a
// texture file, or for a missing file (naming the file).
void use_minimodel_mouse(V1LoadOptions& options, bool crop_given, const std::string& field = "data.mouse");

// The training trials that minimodel's load_neurons keeps (indices into
// istim_sp, ascending): all, or those the filters above leave.
at::Tensor kept_training_trials(const at::Tensor& istim_sp, bool fixtrain, bool drop_flipped_test_images);

// The dataset restricted to some of its neurons (indices into its neurons,
// each in range, else fovea::Error naming `field` and the file).
V1Dataset select_dataset_neurons(const V1Dataset& dataset, const std::vector<int64_t>& neurons,
                                 const std::string& field = "data.neurons");

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

// minimodel's texture responses text16_{mname}_{datexp}.npz, keys as
// scripts/catvar.py reads them (the data README names them wrongly): sp
// (neurons, trials), istim (trials,), labels (trials,), ss_all (test images,
// repeats, neurons), ss_istim, ss_labels (test images,). xpos/ypos are read
// when present, else NaN. The same checks as load_neurons.
struct V1TextureNeurons {
  V1Neurons neurons;   // istim -> istim_sp, ss_istim -> istim_ss
  at::Tensor labels;   // (trials,) int64
  at::Tensor ss_labels;  // (test images,) int64
};
V1TextureNeurons load_texture_neurons(const std::string& path);

// minimodel's normalize_spks: replaces `spks` (trials, neurons) and
// `spks_rep` (test images, repeats, neurons) by themselves divided by the
// per-neuron std of spks[itrain] (ddof 0, values below 0.01 set to 0.01);
// returns that std (neurons,) float32. No mean is subtracted.
at::Tensor normalize_spks(at::Tensor& spks, at::Tensor& spks_rep, const at::Tensor& itrain);

}  // namespace fovea::data
