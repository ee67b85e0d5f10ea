// minimodel's V1 layout: load_images, load_neurons, split_train_val,
// normalize_spks and load_v1_dataset on small generated files, checked
// against hand computations, and every malformed-file error.
#include <gtest/gtest.h>
#include <matio.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "fovea/data/v1_dataset.h"
#include "fovea/error.h"
#include "fovea/eval/metrics.h"
#include "fovea/io/npy.h"
#include "temp_dir.h"

namespace {

using fovea::data::V1LoadOptions;
using fovea::io::NpzArrays;

constexpr int64_t kImages = 40, kHeight = 12, kWidth = 20;
constexpr int64_t kNeurons = 5, kTrials = 60, kTest = 10, kRepeats = 4;

// Expects `body` to throw fovea::Error whose message contains every fragment.
void expect_error(const std::function<void()>& body, const std::vector<std::string>& fragments) {
  try {
    body();
    ADD_FAILURE() << "no fovea::Error thrown; expected one mentioning '" << fragments.front() << "'";
  } catch (const fovea::Error& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.find('\n'), std::string::npos) << "not one line: " << message;
    for (const std::string& f : fragments) EXPECT_NE(message.find(f), std::string::npos) << message;
  }
}

// A valid dataset: images (40, 12, 20), 5 neurons, 60 trials of images
// 10..39, 10 test images (0..9) x 4 repeats.
NpzArrays valid_responses() {
  at::manual_seed(3);
  at::Tensor sp = at::rand({kNeurons, kTrials}, at::kFloat) * at::arange(1, kNeurons + 1, at::kFloat).unsqueeze(1);
  at::Tensor istim_sp = at::remainder(at::arange(kTrials, at::kLong) * 7, kImages - kTest) + kTest;
  at::Tensor signal = at::rand({kTest, 1, kNeurons}, at::kFloat) * 3.0;
  at::Tensor ss_all = signal + 0.5 * at::rand({kTest, kRepeats, kNeurons}, at::kFloat);
  return {{"sp", sp},
          {"istim_sp", istim_sp},
          {"ss_all", ss_all},
          {"istim_ss", at::arange(kTest, at::kLong)},
          {"xpos", at::arange(kNeurons, at::kFloat) * 10.0},
          {"ypos", at::arange(kNeurons, at::kFloat) * 5.0}};
}

at::Tensor& key(NpzArrays& arrays, const std::string& name) {
  for (auto& [k, t] : arrays)
    if (k == name) return t;
  throw std::runtime_error("test bug: no key " + name);
}

NpzArrays without(NpzArrays arrays, const std::string& name) {
  NpzArrays out;
  for (auto& [k, t] : arrays)
    if (k != name) out.emplace_back(k, t);
  return out;
}

class V1DatasetFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    images = at::rand({kImages, kHeight, kWidth}, at::kFloat) * 255.0;
    fovea::io::write_npy(images_path(), images);
    fovea::io::write_npz(responses_path(), valid_responses());
  }
  std::string images_path() const { return dir.file("images.npy"); }
  std::string responses_path() const { return dir.file("responses.npz"); }
  V1LoadOptions options() const {
    V1LoadOptions o;
    o.images_path = images_path();
    o.responses_path = responses_path();
    return o;
  }
  // Rewrites responses.npz with `arrays` and expects loading to fail with `fragments`.
  void expect_responses_error(const NpzArrays& arrays, const std::vector<std::string>& fragments) {
    fovea::io::write_npz(responses_path(), arrays);
    expect_error([&] { fovea::data::load_v1_dataset(options()); }, fragments);
  }

  fovea::testing::TempDir dir{"fovea_v1"};
  at::Tensor images;
};

// ---------------------------------------------------------------- split

TEST(SplitTrainVal, MinimodelSizesForFx20) {
  at::Tensor itrain, ival;
  fovea::data::split_train_val(47868, 0.9, itrain, ival);
  EXPECT_EQ(ival.size(0), 4787);
  EXPECT_EQ(itrain.size(0), 43081);
  EXPECT_EQ(ival[0].item<int64_t>(), 0);
  EXPECT_EQ(ival[1].item<int64_t>(), 10);
  EXPECT_EQ(ival[-1].item<int64_t>(), 47860);
  EXPECT_EQ(itrain[0].item<int64_t>(), 1);
  EXPECT_EQ(itrain[8].item<int64_t>(), 9);
  EXPECT_EQ(itrain[9].item<int64_t>(), 11);
  // Disjoint, and together every trial once.
  at::Tensor all = std::get<0>(at::cat({itrain, ival}).sort());
  EXPECT_TRUE(all.equal(at::arange(47868, at::kLong)));
}

TEST(SplitTrainVal, IntervalIsTruncatedAsPythonInt) {
  at::Tensor itrain, ival;
  fovea::data::split_train_val(100, 0.8, itrain, ival);  // int(1/0.2) = 5
  EXPECT_EQ(ival.size(0), 20);
  fovea::data::split_train_val(100, 0.6, itrain, ival);  // int(2.5) = 2, not round's 3
  EXPECT_EQ(ival.size(0), 50);
}

TEST(SplitTrainVal, RejectsFractionsWithoutTrainingTrials) {
  at::Tensor itrain, ival;
  EXPECT_THROW(fovea::data::split_train_val(100, 1.0, itrain, ival), fovea::Error);
  EXPECT_THROW(fovea::data::split_train_val(100, 0.0, itrain, ival), fovea::Error);
  EXPECT_THROW(fovea::data::split_train_val(100, 0.3, itrain, ival), fovea::Error);  // int(1/0.7) = 1
}

// ---------------------------------------------------------------- images

TEST(DownsampledSize, MatchesPythonFloorDivision) {
  EXPECT_EQ(fovea::data::downsampled_size(264, 1.0), 264);
  EXPECT_EQ(fovea::data::downsampled_size(264, 2.0), 132);
  EXPECT_EQ(fovea::data::downsampled_size(66, 2.0), 33);
  EXPECT_EQ(fovea::data::downsampled_size(130, 1.5), 86);
  EXPECT_EQ(fovea::data::downsampled_size(65, 2.0), 32);
  EXPECT_THROW(fovea::data::downsampled_size(66, 0.0), fovea::Error);
}

// Images whose value is the column index: bilinear resizing by 2 as cv2 does
// (half-pixel centres) averages columns 2j and 2j+1, giving 2j + 0.5.
at::Tensor column_ramp(int64_t n, int64_t h, int64_t w) {
  return at::arange(w, at::kFloat).expand({n, h, w}).contiguous();
}

TEST(LoadImages, ResizesAsCv2AndCropsAfterResizing) {
  fovea::testing::TempDir dir{"fovea_img"};
  fovea::io::write_npy(dir.file("ramp.npy"), column_ramp(3, 66, 264));

  // minimodel's defaults, no resize: crop [0, 130).
  at::Tensor full = fovea::data::load_images(dir.file("ramp.npy"), 0, 130, 1.0, /*normalize=*/false);
  ASSERT_EQ(full.sizes(), (at::IntArrayRef{3, 66, 130}));
  EXPECT_EQ(full.scalar_type(), at::kFloat);
  EXPECT_TRUE(full[1][7].equal(at::arange(130, at::kFloat)));

  // FX20's crop [46, 176).
  at::Tensor fx20 = fovea::data::load_images(dir.file("ramp.npy"), 46, 176, 1.0, false);
  ASSERT_EQ(fx20.sizes(), (at::IntArrayRef{3, 66, 130}));
  EXPECT_EQ(fx20[0][0][0].item<float>(), 46.0f);
  EXPECT_EQ(fx20[0][0][129].item<float>(), 175.0f);

  // Downsample 2: resize 66x264 -> 33x132 (cv2 dsize (132, 33)), then crop [23, 88).
  at::Tensor half = fovea::data::load_images(dir.file("ramp.npy"), 46, 176, 2.0, false);
  ASSERT_EQ(half.sizes(), (at::IntArrayRef{3, 33, 65}));
  at::Tensor expected = at::arange(23, 88, at::kFloat) * 2.0 + 0.5;
  EXPECT_TRUE(half[2][16].allclose(expected, 0, 1e-5)) << half[2][16].slice(0, 0, 5);

  // minimodel resizes first and then crops at int(x0 // 2): an odd x0 = 45
  // starts at resized column 22 = mean of columns 44 and 45 (cropping first
  // would give 45.5).
  at::Tensor odd = fovea::data::load_images(dir.file("ramp.npy"), 45, 175, 2.0, false);
  ASSERT_EQ(odd.size(2), 65);
  EXPECT_NEAR(odd[0][0][0].item<float>(), 44.5f, 1e-4);

  // A crop beyond the width is clipped, as Python slicing does.
  at::Tensor wide = fovea::data::load_images(dir.file("ramp.npy"), 200, 400, 1.0, false);
  EXPECT_EQ(wide.size(2), 64);
}

TEST(LoadImages, NonIntegerDownsampleUsesFloorOfTheSize) {
  fovea::testing::TempDir dir{"fovea_img"};
  fovea::io::write_npy(dir.file("ramp.npy"), column_ramp(2, 66, 130));
  at::Tensor out = fovea::data::load_images(dir.file("ramp.npy"), 0, 130, 1.5, false);
  EXPECT_EQ(out.sizes(), (at::IntArrayRef{2, 44, 86}));
  // INTER_LINEAR samples the source at (x + 0.5) * 130/86 - 0.5 and
  // interpolates (INTER_AREA would average areas instead).
  const double scale = 130.0 / 86.0;
  for (int64_t x : {1, 10, 40, 80})
    EXPECT_NEAR(out[1][20][x].item<float>(), (x + 0.5) * scale - 0.5, 1e-4) << "column " << x;
}

TEST(LoadImages, GlobalZScore) {
  fovea::testing::TempDir dir{"fovea_img"};
  at::Tensor raw = at::rand({6, 10, 14}, at::kDouble) * 200.0 + 30.0;
  fovea::io::write_npy(dir.file("u8.npy"), raw.to(at::kByte));  // any numeric dtype is read
  at::Tensor out = fovea::data::load_images(dir.file("u8.npy"), 0, 130, 1.0, true);
  ASSERT_EQ(out.scalar_type(), at::kFloat);
  at::Tensor as_float = raw.to(at::kByte).to(at::kDouble);
  // One mean and one std over all images (not per image), ddof 0.
  at::Tensor expected = (as_float - as_float.mean()) / as_float.std(/*unbiased=*/false);
  EXPECT_TRUE(out.to(at::kDouble).allclose(expected, 1e-5, 1e-5));
  EXPECT_NEAR(out.to(at::kDouble).mean().item<double>(), 0.0, 1e-6);
  EXPECT_NEAR(out.to(at::kDouble).std(false).item<double>(), 1.0, 1e-5);
}

// A .mat `img` is (Ly, Lx, N) in MATLAB's order; load_images transposes it to (N, Ly, Lx).
TEST(LoadImages, MatFileIsTransposed) {
  fovea::testing::TempDir dir{"fovea_mat"};
  const std::string path = dir.file("img.mat");
  const size_t ly = 4, lx = 6, n = 3;
  std::vector<float> column_major(ly * lx * n);
  for (size_t k = 0; k < n; ++k)
    for (size_t j = 0; j < lx; ++j)
      for (size_t i = 0; i < ly; ++i) column_major[i + ly * (j + lx * k)] = static_cast<float>(100 * k + 10 * i + j);
  mat_t* mat = Mat_CreateVer(path.c_str(), nullptr, MAT_FT_MAT5);
  ASSERT_NE(mat, nullptr);
  size_t dims[3] = {ly, lx, n};
  matvar_t* var = Mat_VarCreate("img", MAT_C_SINGLE, MAT_T_SINGLE, 3, dims, column_major.data(), 0);
  ASSERT_NE(var, nullptr);
  ASSERT_EQ(Mat_VarWrite(mat, var, MAT_COMPRESSION_NONE), 0);
  Mat_VarFree(var);
  Mat_Close(mat);

  at::Tensor out = fovea::data::load_images(path, 0, 130, 1.0, false);
  ASSERT_EQ(out.sizes(), (at::IntArrayRef{3, 4, 6}));
  EXPECT_EQ(out[2][3][5].item<float>(), 235.0f);
  EXPECT_EQ(out[1][0][4].item<float>(), 104.0f);
  EXPECT_EQ(out[0][2][0].item<float>(), 20.0f);
}

TEST(LoadImages, Errors) {
  fovea::testing::TempDir dir{"fovea_img"};
  expect_error([&] { fovea::data::load_images(dir.file("absent.npy")); }, {"absent.npy", "file not found"});
  fovea::io::write_npy(dir.file("flat.npy"), at::rand({5, 12}));
  expect_error([&] { fovea::data::load_images(dir.file("flat.npy")); },
               {"flat.npy", "2 dimensions, expected 3"});
  fovea::io::write_npy(dir.file("ok.npy"), at::rand({2, 8, 8}));
  std::filesystem::copy_file(dir.file("ok.npy"), dir.file("images.png"));
  expect_error([&] { fovea::data::load_images(dir.file("images.png")); }, {"images.png", "unsupported"});
  at::Tensor with_nan = at::rand({2, 8, 8});
  with_nan[1][2][3] = NAN;
  fovea::io::write_npy(dir.file("nan.npy"), with_nan);
  expect_error([&] { fovea::data::load_images(dir.file("nan.npy")); }, {"nan.npy", "1 NaN value"});
  expect_error([&] { fovea::data::load_images(dir.file("ok.npy"), 10, 20, 1.0, true); },
               {"ok.npy", "leaves no columns"});
  expect_error([&] { fovea::data::load_images(dir.file("ok.npy"), 0, 130, 100.0, true); },
               {"ok.npy", "to nothing"});
}

// ---------------------------------------------------------------- neurons

TEST_F(V1DatasetFiles, LoadNeuronsTransposesSp) {
  fovea::data::V1Neurons neurons = fovea::data::load_neurons(responses_path());
  NpzArrays raw = valid_responses();
  ASSERT_EQ(neurons.spks.sizes(), (at::IntArrayRef{kTrials, kNeurons}));
  EXPECT_TRUE(neurons.spks.equal(key(raw, "sp").t()));
  EXPECT_EQ(neurons.istim_sp.scalar_type(), at::kLong);
  EXPECT_TRUE(neurons.istim_sp.equal(key(raw, "istim_sp")));
  EXPECT_TRUE(neurons.spks_rep_all.equal(key(raw, "ss_all")));
  EXPECT_TRUE(neurons.xpos.equal(key(raw, "xpos")));
}

TEST(NormalizeSpks, DividesByTrainStdWithFloor) {
  at::Tensor spks = at::rand({30, 3}, at::kFloat) * 4.0;
  spks.select(1, 2).fill_(7.0);  // a silent neuron: std 0, floored at 0.01
  at::Tensor rep = at::rand({5, 2, 3}, at::kFloat);
  at::Tensor itrain = at::arange(1, 30, 2, at::kLong);
  at::Tensor spks_in = spks.clone(), rep_in = rep.clone();
  at::Tensor divisor = fovea::data::normalize_spks(spks, rep, itrain);

  // By hand: std (ddof 0) over the odd trials only.
  for (int64_t k = 0; k < 2; ++k) {
    double mean = 0, var = 0;
    for (int64_t t = 1; t < 30; t += 2) mean += spks_in[t][k].item<double>();
    mean /= 15;
    for (int64_t t = 1; t < 30; t += 2) var += std::pow(spks_in[t][k].item<double>() - mean, 2);
    const double expected = std::sqrt(var / 15);
    EXPECT_NEAR(divisor[k].item<double>(), expected, 1e-6);
    EXPECT_NEAR(spks[4][k].item<double>(), spks_in[4][k].item<double>() / expected, 1e-5);
    EXPECT_NEAR(rep[3][1][k].item<double>(), rep_in[3][1][k].item<double>() / expected, 1e-5);
  }
  EXPECT_FLOAT_EQ(divisor[2].item<float>(), 0.01f);
  EXPECT_NEAR(spks[0][2].item<double>(), 700.0, 1e-3);
  EXPECT_NEAR(rep[0][0][2].item<double>(), rep_in[0][0][2].item<double>() / 0.01, 1e-3);
}

// ---------------------------------------------------------------- the whole dataset

TEST_F(V1DatasetFiles, LoadsAndPreprocesses) {
  fovea::data::V1Dataset data = fovea::data::load_v1_dataset(options());
  EXPECT_EQ(data.n_neurons(), kNeurons);
  ASSERT_EQ(data.images.sizes(), (at::IntArrayRef{kImages, kHeight, kWidth}));  // crop [0, 130) clipped to 20
  EXPECT_NEAR(data.images.to(at::kDouble).mean().item<double>(), 0.0, 1e-5);
  ASSERT_EQ(data.train_responses.sizes(), (at::IntArrayRef{kTrials, kNeurons}));
  ASSERT_EQ(data.test_responses.sizes(), (at::IntArrayRef{kTest, kRepeats, kNeurons}));
  EXPECT_EQ(data.ival.size(0), 6);
  EXPECT_EQ(data.itrain.size(0), 54);

  // Responses divided by the std over training trials only.
  NpzArrays raw = valid_responses();
  at::Tensor spks = key(raw, "sp").t().to(at::kDouble);
  at::Tensor train_std = spks.index_select(0, data.itrain).std(0, false);
  EXPECT_TRUE(data.response_std.to(at::kDouble).allclose(train_std, 1e-5));
  EXPECT_TRUE(data.train_responses.to(at::kDouble).allclose(spks / train_std, 1e-5));
  EXPECT_TRUE(data.test_responses.to(at::kDouble).allclose(key(raw, "ss_all").to(at::kDouble) / train_std, 1e-5));

  // FEV on the test repeats, and the mask.
  EXPECT_TRUE(data.fev.allclose(fovea::eval::fev(key(raw, "ss_all")), 1e-5));
  EXPECT_TRUE(data.good_neurons.equal(data.fev > 0.15));
  EXPECT_GT(data.good_neurons.sum().item<int64_t>(), 0);

  // Images of trials and of the test set.
  at::Tensor trials = at::tensor({0, 5, 59}, at::kLong);
  at::Tensor trial_images = data.trial_images(trials);
  ASSERT_EQ(trial_images.sizes(), (at::IntArrayRef{3, 1, kHeight, kWidth}));
  const int64_t image_of_trial_5 = data.train_image_index[5].item<int64_t>();
  EXPECT_TRUE(trial_images[1][0].equal(data.images[image_of_trial_5]));
  at::Tensor test_images = data.test_images();
  ASSERT_EQ(test_images.sizes(), (at::IntArrayRef{kTest, 1, kHeight, kWidth}));
  EXPECT_TRUE(test_images[7][0].equal(data.images[7]));
}

TEST_F(V1DatasetFiles, MissingFiles) {
  V1LoadOptions o = options();
  o.images_path = dir.file("nope.mat");
  expect_error([&] { fovea::data::load_v1_dataset(o); }, {"nope.mat", "file not found"});
  o = options();
  o.responses_path = dir.file("nope.npz");
  expect_error([&] { fovea::data::load_v1_dataset(o); }, {"nope.npz", "file not found"});
}

TEST_F(V1DatasetFiles, MissingKeys) {
  for (const char* name : {"sp", "istim_sp", "ss_all", "istim_ss", "xpos", "ypos"})
    expect_responses_error(without(valid_responses(), name),
                           {"responses.npz", std::string("key '") + name + "' is missing"});
}

TEST_F(V1DatasetFiles, WrongDimensions) {
  NpzArrays a = valid_responses();
  key(a, "sp") = key(a, "sp").unsqueeze(0);
  expect_responses_error(a, {"responses.npz", "sp has 3 dimensions, expected 2"});
  a = valid_responses();
  key(a, "ss_all") = key(a, "ss_all").select(1, 0);
  expect_responses_error(a, {"responses.npz", "ss_all has 2 dimensions, expected 3"});
  a = valid_responses();
  key(a, "istim_sp") = key(a, "istim_sp").unsqueeze(1);
  expect_responses_error(a, {"responses.npz", "istim_sp has 2 dimensions, expected 1"});
}

TEST_F(V1DatasetFiles, ImagesAndResponsesDisagree) {
  NpzArrays a = valid_responses();
  key(a, "istim_sp")[3] = kImages;  // one past the last image
  expect_responses_error(a, {"responses.npz", "istim_sp holds image index 40", "images.npy has 40 images"});
  a = valid_responses();
  key(a, "istim_ss")[0] = -1;
  expect_responses_error(a, {"responses.npz", "istim_ss holds the negative image index -1"});
  a = valid_responses();
  key(a, "istim_sp") = key(a, "istim_sp").slice(0, 0, kTrials - 1);
  expect_responses_error(a, {"responses.npz", "sp has 60 trials but istim_sp has 59 entries"});
  a = valid_responses();
  key(a, "ss_all") = key(a, "ss_all").slice(2, 0, kNeurons - 1);
  expect_responses_error(a, {"responses.npz", "ss_all has 4 neurons but sp has 5"});
  a = valid_responses();
  key(a, "istim_ss") = key(a, "istim_ss").slice(0, 0, kTest - 2);
  expect_responses_error(a, {"responses.npz", "ss_all has 10 test images but istim_ss has 8 entries"});
  a = valid_responses();
  key(a, "xpos") = at::zeros({kNeurons + 1});
  expect_responses_error(a, {"responses.npz", "xpos has 6 entries but sp has 5 neurons"});
  a = valid_responses();
  key(a, "ypos") = at::zeros({kNeurons - 1});
  expect_responses_error(a, {"responses.npz", "ypos has 4 entries but sp has 5 neurons"});
  a = valid_responses();
  key(a, "ss_all") = key(a, "ss_all").slice(1, 0, 0);
  expect_responses_error(a, {"responses.npz", "ss_all holds no repeats"});
}

TEST_F(V1DatasetFiles, NonFiniteResponses) {
  NpzArrays a = valid_responses();
  at::Tensor sp = key(a, "sp").clone();
  for (int64_t t : {1, 7, 20}) sp[2][t] = NAN;
  key(a, "sp") = sp;
  expect_responses_error(a, {"responses.npz", "sp contains 3 NaN values"});
  a = valid_responses();
  at::Tensor ss = key(a, "ss_all").clone();
  ss[0][1][2] = INFINITY;
  key(a, "ss_all") = ss;
  expect_responses_error(a, {"responses.npz", "ss_all contains 1 infinite value"});
}

TEST_F(V1DatasetFiles, Float64AndInt32FilesAreAccepted) {
  NpzArrays a = valid_responses();
  key(a, "sp") = key(a, "sp").to(at::kDouble);
  key(a, "istim_sp") = key(a, "istim_sp").to(at::kInt);
  fovea::io::write_npz(responses_path(), a);
  fovea::data::V1Dataset data = fovea::data::load_v1_dataset(options());
  EXPECT_EQ(data.train_responses.scalar_type(), at::kFloat);
  EXPECT_EQ(data.train_image_index.scalar_type(), at::kLong);
}

}  // namespace
