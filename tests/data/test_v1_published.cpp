// minimodel's published mouse V1 files (figshare): the table of mice, the
// files found by mouse name in a folder, load_neurons' trial filters
// (L1_A1's flipped test images, fixtrain), the text16 texture responses, and
// neuron subsets. Small files in minimodel's exact names and layout (MAT v5
// `img` as Ly x Lx x N, npz keys and axis orders as data.py / catvar.py read
// them), checked value by value against the rules of minimodel.md §4.
#include <gtest/gtest.h>
#include <matio.h>
#include <torch/torch.h>

#include <cmath>
#include <string>
#include <vector>

#include "data/temp_dir.h"
#include "fovea/data/minimodel_mice.h"
#include "fovea/data/v1_dataset.h"
#include "fovea/error.h"
#include "fovea/io/npy.h"
#include "test_util.h"

namespace {

using fovea::data::V1LoadOptions;
using fovea::io::NpzArrays;
using fovea::test::error_of;

constexpr int64_t kLy = 2, kLx = 3;

// nat60k_text16.mat in minimodel's layout: `img` (Ly, Lx, N) float32; image
// i holds the value i everywhere (before the z-score), so indices can be
// checked through the pixels.
void write_image_mat(const std::string& path, int64_t n) {
  std::vector<float> column_major(static_cast<size_t>(kLy * kLx * n));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t p = 0; p < kLy * kLx; ++p) column_major[static_cast<size_t>(i * kLy * kLx + p)] = static_cast<float>(i);
  mat_t* mat = Mat_CreateVer(path.c_str(), nullptr, MAT_FT_MAT5);
  ASSERT_NE(mat, nullptr);
  size_t dims[3] = {kLy, kLx, static_cast<size_t>(n)};
  matvar_t* var = Mat_VarCreate("img", MAT_C_SINGLE, MAT_T_SINGLE, 3, dims, column_major.data(), 0);
  ASSERT_NE(var, nullptr);
  ASSERT_EQ(Mat_VarWrite(mat, var, MAT_COMPRESSION_NONE), 0);
  Mat_VarFree(var);
  Mat_Close(mat);
}

// A {mname}_nat60k_{datexp}.npz: 4 neurons; training trials on the given
// image indices; 5 test images (0..4) x 3 repeats.
NpzArrays nat60k_responses(const std::vector<int64_t>& istim) {
  at::manual_seed(11);
  const int64_t n = static_cast<int64_t>(istim.size());
  at::Tensor sp = at::rand({4, n}, at::kFloat) + at::arange(4, at::kFloat).unsqueeze(1);
  at::Tensor signal = at::rand({5, 1, 4}, at::kFloat) * at::tensor({3.0f, 0.05f, 2.0f, 0.01f});
  return {{"sp", sp},
          {"istim_sp", at::tensor(istim, at::kLong)},
          {"ss_all", signal + 0.3 * at::rand({5, 3, 4}, at::kFloat)},
          {"istim_ss", at::arange(5, at::kLong)},
          {"xpos", at::arange(4, at::kFloat)},
          {"ypos", at::arange(4, at::kFloat)}};
}

const at::Tensor& key(const NpzArrays& arrays, const std::string& name) {
  for (const auto& [k, t] : arrays)
    if (k == name) return t;
  throw std::runtime_error("test bug: no key " + name);
}

std::vector<int64_t> as_vector(const at::Tensor& t) {
  at::Tensor c = t.to(at::kLong).contiguous();
  return {c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel()};
}

// FEV per neuron as minimodel.md §5 defines it, from (images, repeats, neurons).
std::vector<double> fev_by_hand(const at::Tensor& ss) {
  std::vector<double> out;
  at::Tensor x = ss.to(at::kDouble);
  for (int64_t n = 0; n < x.size(2); ++n) {
    at::Tensor r = x.select(2, n);
    const double total = r.reshape({-1}).var(/*unbiased=*/true).item<double>();
    const double noise = r.var(1, /*unbiased=*/true).mean().item<double>();
    out.push_back((total - noise) / total);
  }
  return out;
}

// ------------------------------------------------------------- the table

TEST(MinimodelMice, TableIsMinimodelsDataPy) {
  const auto& mice = fovea::data::minimodel_mice();
  ASSERT_EQ(mice.size(), 6u);
  const std::vector<std::string> names = {"L1_A5", "L1_A1", "FX9", "FX10", "FX8", "FX20"};
  const std::vector<std::string> dates = {"2023_02_27", "2023_03_06", "2023_05_15", "2023_05_16", "2023_05_16", "2023_09_29"};
  const std::vector<std::string> exp = {"022723", "030623", "051523", "051623", "051623", "092923"};
  const std::vector<int64_t> nn = {6636, 6055, 3575, 4792, 5804, 2746}, valid = {4242, 2840, 926, 3040, 2217, 1239};
  for (size_t i = 0; i < mice.size(); ++i) {
    EXPECT_EQ(mice[i].id, static_cast<int>(i));
    EXPECT_EQ(mice[i].name, names[i]);
    EXPECT_EQ(mice[i].datexp, dates[i]);
    EXPECT_EQ(mice[i].exp_date, exp[i]);
    EXPECT_EQ(mice[i].neurons, nn[i]);
    EXPECT_EQ(mice[i].neurons_fev015, valid[i]);
    EXPECT_EQ(mice[i].image_file, i < 2 ? "nat60k_text16_old.mat" : "nat60k_text16.mat");
    EXPECT_EQ(mice[i].textures, i >= 2) << names[i];  // text16 files for FX9/10/8/20
    EXPECT_EQ(mice[i].crop_x0, i == 5 ? 46 : 0);
    EXPECT_EQ(mice[i].crop_x1, i == 5 ? 176 : 130);
    EXPECT_EQ(mice[i].drops_flipped_test_images(), i == 1);
  }
  EXPECT_EQ(mice[3].responses_file(), "FX10_nat60k_2023_05_16.npz");
  EXPECT_EQ(mice[3].texture_file(), "text16_FX10_2023_05_16.npz");
  EXPECT_EQ(mice[1].responses_file(), "L1_A1_nat60k_2023_03_06.npz");
  // Totals quoted in minimodel.md §7: 14,504 of 29,608 neurons with FEV > 0.15.
  int64_t all = 0, good = 0;
  for (const auto& m : mice) all += m.neurons, good += m.neurons_fev015;
  EXPECT_EQ(all, 29608);
  EXPECT_EQ(good, 14504);
}

TEST(MinimodelMice, NamesAsModelFilesWriteThemAndUnknownMiceListTheKnownOnes) {
  EXPECT_EQ(fovea::data::minimodel_mouse("l1a1").name, "L1_A1");
  EXPECT_EQ(fovea::data::minimodel_mouse("fx20").name, "FX20");
  const std::string m = error_of([] { fovea::data::minimodel_mouse("FX11", "--mouse"); });
  EXPECT_EQ(m.rfind("--mouse: ", 0), 0u) << m;
  for (const char* part : {"FX11", "L1_A5", "L1_A1", "FX9", "FX10", "FX8", "FX20"}) EXPECT_NE(m.find(part), std::string::npos) << m;
  EXPECT_EQ(m.find('\n'), std::string::npos);
}

// ------------------------------------------------------------- trial filters

TEST(TrialFilters, KeepWhatLoadNeuronsKeeps) {
  const at::Tensor istim = at::tensor({0L, 29999L, 30000L, 30250L, 30500L, 30501L, 59999L, 60000L, 12L});
  // fixtrain: istim < 30000.
  EXPECT_EQ(as_vector(fovea::data::kept_training_trials(istim, true, false)), (std::vector<int64_t>{0, 1, 8}));
  // L1_A1: (istim < 30000) | (istim > 30500); 30000 and 30500 are both dropped.
  EXPECT_EQ(as_vector(fovea::data::kept_training_trials(istim, false, true)), (std::vector<int64_t>{0, 1, 5, 6, 7, 8}));
  // fixtrain wins over the L1_A1 rule (load_neurons' if / elif).
  EXPECT_EQ(as_vector(fovea::data::kept_training_trials(istim, true, true)), (std::vector<int64_t>{0, 1, 8}));
  EXPECT_EQ(as_vector(fovea::data::kept_training_trials(istim, false, false)), (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8}));
}

// L1_A1 found by name in a folder: its image file (nat60k_text16_old.mat),
// its responses file, and its flipped test images dropped before the split.
TEST(PublishedFiles, L1A1ByNameDropsFlippedTestImages) {
  fovea::testing::TempDir dir("fovea_v1_published");
  write_image_mat(dir.file("nat60k_text16_old.mat"), 30600);
  const std::vector<int64_t> istim = {10, 30000, 20, 30500, 30501, 30100, 7, 30599, 29999, 15, 30499, 8, 40, 41};
  const NpzArrays arrays = nat60k_responses(istim);
  fovea::io::write_npz(dir.file("L1_A1_nat60k_2023_03_06.npz"), arrays);

  V1LoadOptions o;
  o.mouse = "L1_A1";
  o.dir = dir.path();
  fovea::data::use_minimodel_mouse(o, /*crop_given=*/false);
  EXPECT_EQ(o.images_path, dir.file("nat60k_text16_old.mat"));
  EXPECT_EQ(o.responses_path, dir.file("L1_A1_nat60k_2023_03_06.npz"));
  EXPECT_TRUE(o.drop_flipped_test_images);
  o.normalize_images = false;
  o.train_fraction = 0.5;  // every 2nd kept trial validates
  const auto d = fovea::data::load_v1_dataset(o);

  const std::vector<int64_t> kept_istim = {10, 20, 30501, 7, 30599, 29999, 15, 8, 40, 41};
  const std::vector<int64_t> kept_trials = {0, 2, 4, 6, 7, 8, 9, 11, 12, 13};
  EXPECT_EQ(as_vector(d.train_image_index), kept_istim);
  // The pixels of each kept trial's image are its index (no z-score).
  at::Tensor first_pixels = d.trial_images(at::arange(10, at::kLong)).select(1, 0).select(1, 0).select(1, 0);
  EXPECT_EQ(as_vector(first_pixels.round()), kept_istim);
  // The split and the std are taken over the kept trials only.
  EXPECT_EQ(as_vector(d.ival), (std::vector<int64_t>{0, 2, 4, 6, 8}));
  at::Tensor sp_kept = key(arrays, "sp").t().index_select(0, at::tensor(kept_trials, at::kLong)).to(at::kDouble);
  at::Tensor std_train = sp_kept.index_select(0, at::tensor({1L, 3L, 5L, 7L, 9L})).std(0, false).clamp_min(0.01);
  EXPECT_TRUE(at::allclose(d.response_std.to(at::kDouble), std_train, 1e-5, 1e-6));
  EXPECT_TRUE(at::allclose(d.train_responses.to(at::kDouble), sp_kept / std_train, 1e-5, 1e-6));
  EXPECT_EQ(d.neurons_in_file, 4);
  EXPECT_FALSE(d.is_neuron_subset());

  // fixtrain: istim < 30000 only.
  o.fixtrain = true;
  EXPECT_EQ(as_vector(fovea::data::load_v1_dataset(o).train_image_index),
            (std::vector<int64_t>{10, 20, 7, 29999, 15, 8, 40, 41}));
}

TEST(PublishedFiles, Fx20TakesItsCropAndMissingFilesAreNamed) {
  fovea::testing::TempDir dir("fovea_v1_published");
  V1LoadOptions o;
  o.mouse = "FX20";
  o.dir = dir.path();
  std::string m = error_of([&] { fovea::data::use_minimodel_mouse(o, false); });
  EXPECT_NE(m.find(dir.file("nat60k_text16.mat")), std::string::npos) << m;
  EXPECT_NE(m.find("file not found"), std::string::npos) << m;
  write_image_mat(dir.file("nat60k_text16.mat"), 8);
  m = error_of([&] { fovea::data::use_minimodel_mouse(o, false); });
  EXPECT_NE(m.find(dir.file("FX20_nat60k_2023_09_29.npz")), std::string::npos) << m;
  fovea::io::write_npz(dir.file("FX20_nat60k_2023_09_29.npz"), nat60k_responses({5, 6, 7}));
  V1LoadOptions fx20 = o;
  fovea::data::use_minimodel_mouse(fx20, false);
  EXPECT_EQ(fx20.crop_x0, 46);  // load_images: xrange = [46, 176] for mouse_id 5
  EXPECT_EQ(fx20.crop_x1, 176);
  EXPECT_FALSE(fx20.drop_flipped_test_images);
  V1LoadOptions given = o;
  given.crop_x0 = 10, given.crop_x1 = 140;
  fovea::data::use_minimodel_mouse(given, /*crop_given=*/true);
  EXPECT_EQ(given.crop_x0, 10);
  EXPECT_EQ(given.crop_x1, 140);
  // A mouse without its folder, an unknown mouse, textures of a mouse without them.
  V1LoadOptions no_dir;
  no_dir.mouse = "FX10";
  m = error_of([&] { fovea::data::use_minimodel_mouse(no_dir, false); });
  EXPECT_NE(m.find("data.mouse"), std::string::npos) << m;
  EXPECT_NE(m.find("data.dir"), std::string::npos) << m;
  V1LoadOptions old = o;
  old.mouse = "L1_A5", old.textures = true;
  m = error_of([&] { fovea::data::use_minimodel_mouse(old, false); });
  EXPECT_NE(m.find("L1_A5 has no texture recording"), std::string::npos) << m;
}

// ------------------------------------------------------------- textures

NpzArrays text16_responses() {
  at::manual_seed(5);
  // 3 neurons, 8 texture trials, 4 test textures x 3 repeats; images 60000+.
  return {{"sp", at::rand({3, 8}, at::kFloat) * 2.0},
          {"istim", at::tensor({60003L, 60000L, 60007L, 60001L, 60004L, 60006L, 60002L, 60005L})},
          {"labels", at::tensor({1L, 0L, 3L, 0L, 2L, 3L, 1L, 2L})},
          {"ss_all", at::rand({4, 3, 3}, at::kFloat) + at::arange(4, at::kFloat).view({4, 1, 1})},
          {"ss_istim", at::tensor({60008L, 60009L, 60010L, 60011L})},
          {"ss_labels", at::tensor({0L, 1L, 2L, 3L})}};
}

TEST(PublishedFiles, TextureResponsesReadWithTheKeysTheCodeUses) {
  fovea::testing::TempDir dir("fovea_v1_published");
  write_image_mat(dir.file("nat60k_text16.mat"), 60012);
  const NpzArrays arrays = text16_responses();
  fovea::io::write_npz(dir.file("text16_FX10_2023_05_16.npz"), arrays);
  V1LoadOptions o;
  o.mouse = "FX10";
  o.dir = dir.path();
  o.textures = true;
  o.normalize_images = false;
  o.train_fraction = 0.75;  // every 4th trial validates
  fovea::data::use_minimodel_mouse(o, false);
  EXPECT_EQ(o.responses_path, dir.file("text16_FX10_2023_05_16.npz"));
  const auto d = fovea::data::load_v1_dataset(o);
  EXPECT_EQ(as_vector(d.train_image_index), as_vector(key(arrays, "istim")));
  EXPECT_EQ(as_vector(d.test_image_index), as_vector(key(arrays, "ss_istim")));
  EXPECT_EQ(as_vector(d.train_labels), as_vector(key(arrays, "labels")));
  EXPECT_EQ(as_vector(d.test_labels), as_vector(key(arrays, "ss_labels")));
  // Test images are the texture images themselves: pixel value = index.
  EXPECT_EQ(as_vector(d.test_images().select(1, 0).select(1, 1).select(1, 2).round()), as_vector(key(arrays, "ss_istim")));
  // sp is (neurons, trials): responses are its transpose over the std of the training trials 1, 2, 3, 5, 6, 7.
  at::Tensor sp = key(arrays, "sp").t().to(at::kDouble);
  at::Tensor std_train = sp.index_select(0, at::tensor({1L, 2L, 3L, 5L, 6L, 7L})).std(0, false).clamp_min(0.01);
  EXPECT_TRUE(at::allclose(d.train_responses.to(at::kDouble), sp / std_train, 1e-5, 1e-6));
  EXPECT_TRUE(at::allclose(d.test_responses.to(at::kDouble), key(arrays, "ss_all").to(at::kDouble) / std_train, 1e-5, 1e-6));
  EXPECT_TRUE(d.xpos.isnan().all().item<bool>());  // no positions in text16 files

  // A texture file without ss_labels names the file and the key.
  NpzArrays broken;
  for (const auto& [k, t] : arrays)
    if (k != "ss_labels") broken.emplace_back(k, t);
  fovea::io::write_npz(o.responses_path, broken);
  const std::string m = error_of([&] { fovea::data::load_v1_dataset(o); });
  EXPECT_NE(m.find(o.responses_path), std::string::npos) << m;
  EXPECT_NE(m.find("'ss_labels' is missing"), std::string::npos) << m;
  // labels with the wrong length.
  NpzArrays short_labels = arrays;
  for (auto& [k, t] : short_labels)
    if (k == "labels") t = t.slice(0, 0, 5);
  fovea::io::write_npz(o.responses_path, short_labels);
  EXPECT_NE(error_of([&] { fovea::data::load_v1_dataset(o); }).find("labels has 5 entries"), std::string::npos);
}

// ------------------------------------------------------------- neuron subsets

TEST(NeuronSubsets, ListedNeuronsAndFevSelectionKeepTheFilesIndices) {
  fovea::testing::TempDir dir("fovea_v1_published");
  write_image_mat(dir.file("images.mat"), 50);
  const NpzArrays arrays = nat60k_responses({10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21});
  fovea::io::write_npz(dir.file("responses.npz"), arrays);
  V1LoadOptions o;
  o.images_path = dir.file("images.mat");
  o.responses_path = dir.file("responses.npz");
  const auto full = fovea::data::load_v1_dataset(o);

  o.neurons = {2, 0};
  const auto two = fovea::data::load_v1_dataset(o);
  EXPECT_EQ(as_vector(two.neuron_index), (std::vector<int64_t>{2, 0}));
  EXPECT_TRUE(two.is_neuron_subset());
  EXPECT_TRUE(two.train_responses.select(1, 0).equal(full.train_responses.select(1, 2)));
  EXPECT_TRUE(two.train_responses.select(1, 1).equal(full.train_responses.select(1, 0)));
  EXPECT_TRUE(two.test_responses.select(2, 0).equal(full.test_responses.select(2, 2)));
  EXPECT_FLOAT_EQ(two.response_std[0].item<float>(), full.response_std[2].item<float>());

  // FEV > threshold, with FEV computed here from ss_all as §5 defines it.
  const std::vector<double> fev = fev_by_hand(key(arrays, "ss_all"));
  o.neurons.clear();
  o.select_by_fev = true;
  o.fev_threshold = 0.4;
  std::vector<int64_t> expected;
  for (size_t n = 0; n < fev.size(); ++n)
    if (fev[n] > 0.4) expected.push_back(static_cast<int64_t>(n));
  ASSERT_FALSE(expected.empty());
  ASSERT_LT(expected.size(), fev.size());  // the test data has neurons on both sides
  EXPECT_EQ(as_vector(fovea::data::load_v1_dataset(o).neuron_index), expected);

  o.fev_threshold = 2.0;  // FEV never exceeds 1
  std::string m = error_of([&] { fovea::data::load_v1_dataset(o); });
  EXPECT_NE(m.find("no neuron has FEV > 2"), std::string::npos) << m;
  EXPECT_NE(m.find("responses.npz"), std::string::npos) << m;

  o.select_by_fev = false;
  o.neurons = {1, 4};
  m = error_of([&] { fovea::data::load_v1_dataset(o); });
  EXPECT_EQ(m.rfind("data.neurons: ", 0), 0u) << m;
  EXPECT_NE(m.find("neuron 4 is out of range"), std::string::npos) << m;
  EXPECT_NE(m.find(o.responses_path + " has 4 neurons"), std::string::npos) << m;
  o.select_by_fev = true;
  o.neurons = {1};
  EXPECT_NE(error_of([&] { fovea::data::load_v1_dataset(o); }).find("not both"), std::string::npos);
}

}  // namespace
