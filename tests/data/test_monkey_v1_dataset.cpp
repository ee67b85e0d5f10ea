// minimodel's monkey V1 file (Cadena et al. 2019, monkeyv1_cadena_2019.npz),
// read as notebooks/fullmodel_monkey.ipynb reads it; expectations worked out
// by hand from the notebook's steps.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <string>

#include "data/monkey_v1_files.h"
#include "fovea/data/monkey_v1_dataset.h"
#include "fovea/data/v1_dataset.h"
#include "test_util.h"

namespace {

using fovea::test::MonkeyV1File;

// 4 trials, 2 neurons, 2x2 images, 2 test images with 4 repeats.
MonkeyV1File hand_file() {
  MonkeyV1File f;
  f["images"] = torch::arange(4, torch::kFloat32).reshape({4, 1, 1, 1}).expand({4, 1, 2, 2}).contiguous();
  f["responses"] = torch::tensor({1.f, 2.f, 2.f, 4.f, 3.f, 6.f, 100.f, 8.f}).reshape({4, 2});
  f["real_responses"] = torch::tensor({1, 1, 1, 1, 1, 0, 0, 1}, torch::kUInt8).reshape({4, 2}).to(torch::kBool);
  f["test_images"] = (10 + torch::arange(2, torch::kFloat32)).reshape({2, 1, 1, 1}).expand({2, 1, 2, 2}).contiguous();
  // test_responses[r, i, n] = 10 r + 2 i + n + 1
  f["test_responses"] = (10 * torch::arange(4).view({4, 1, 1}) + 2 * torch::arange(2).view({1, 2, 1}) +
                         torch::arange(2).view({1, 1, 2}) + 1)
                            .to(torch::kFloat32);
  at::Tensor test_real = torch::ones({4, 2, 2}, torch::kFloat32);  // a float 0/1 mask is read too
  test_real[3][1][0] = 0;
  f["test_real_responses"] = test_real;
  f["train_idx"] = torch::tensor({0, 2, 3}, torch::kInt64);
  f["val_idx"] = torch::tensor({1}, torch::kInt64);
  f["repetitions"] = torch::tensor({3, 4}, torch::kInt64);
  f["subject_id"] = torch::tensor({4, 34}, torch::kInt64);
  f["image_ids"] = torch::arange(4, torch::kInt64).reshape({4, 1});
  return f;
}

TEST(MonkeyV1Dataset, NormalisesByNanstdOfRealResponsesAndKeepsTheMasks) {
  fovea::test::TempDir dir;
  hand_file().write(dir.file("monkeyv1_cadena_2019.npz"));
  fovea::data::V1LoadOptions o;
  o.layout = "monkey_cadena_2019";
  o.dir = dir.path().string();
  const auto d = fovea::data::load_v1_dataset(o);
  // nanstd (ddof 0) over the real responses of all 4 trials:
  // neuron 0 {1, 2, 3}: sqrt(2/3); neuron 1 {2, 4, 8}: mean 14/3, Σdev² 56/3, var 56/9.
  const double s0 = std::sqrt(2.0 / 3.0), s1 = std::sqrt(56.0 / 9.0);
  EXPECT_NEAR(d.response_std[0].item<double>(), s0, 1e-6);
  EXPECT_NEAR(d.response_std[1].item<double>(), s1, 1e-6);
  ASSERT_EQ(d.train_responses.sizes(), (at::IntArrayRef{4, 2}));
  EXPECT_NEAR(d.train_responses[0][0].item<double>(), 1.0 / s0, 1e-6);
  EXPECT_NEAR(d.train_responses[3][1].item<double>(), 8.0 / s1, 1e-6);
  EXPECT_EQ(d.train_responses[3][0].item<double>(), 0.0);  // missing: 0, left out by the mask
  ASSERT_TRUE(d.real_responses.defined());
  EXPECT_FALSE(d.real_responses[3][0].item<bool>());
  EXPECT_FALSE(d.real_responses[2][1].item<bool>());
  EXPECT_EQ(d.real_responses.sum().item<int64_t>(), 6);
  // The file's split, not minimodel's every-10th-trial mouse split.
  EXPECT_TRUE(torch::equal(d.itrain, torch::tensor({0, 2, 3}, torch::kInt64)));
  EXPECT_TRUE(torch::equal(d.ival, torch::tensor({1}, torch::kInt64)));
  // Test responses as (test images, repeats, neurons), divided by the same std, NaN where missing.
  ASSERT_EQ(d.test_responses.sizes(), (at::IntArrayRef{2, 4, 2}));
  EXPECT_NEAR(d.test_responses[1][2][1].item<double>(), (20 + 2 + 1 + 1) / s1, 1e-5);
  EXPECT_NEAR(d.test_responses[0][3][0].item<double>(), 31 / s0, 1e-5);
  EXPECT_TRUE(std::isnan(d.test_responses[1][3][0].item<double>()));
  EXPECT_EQ(d.test_responses.isnan().sum().item<int64_t>(), 1);
  EXPECT_TRUE(torch::equal(d.repetitions, torch::tensor({3, 4}, torch::kInt64)));
  // Trials show their own image; the test images follow them.
  EXPECT_EQ(d.images.sizes(), (at::IntArrayRef{6, 2, 2}));
  EXPECT_EQ(d.trial_images(torch::tensor({2}, torch::kInt64))[0][0][1][1].item<float>(), 2.f);
  EXPECT_EQ(d.test_images().sizes(), (at::IntArrayRef{2, 1, 2, 2}));
  EXPECT_EQ(d.test_images()[1][0][0][0].item<float>(), 11.f);
  ASSERT_EQ(d.fev.sizes(), (at::IntArrayRef{2}));
  EXPECT_EQ(d.n_neurons(), 2);
}

TEST(MonkeyV1Dataset, SelectedNeuronsKeepTheirMasksAndRepetitions) {
  fovea::test::TempDir dir;
  hand_file().write(dir.file("m.npz"));
  fovea::data::V1LoadOptions o;
  o.layout = "monkey_cadena_2019";
  o.responses_path = dir.file("m.npz");
  o.neurons = {1};
  const auto d = fovea::data::load_v1_dataset(o);
  EXPECT_EQ(d.n_neurons(), 1);
  EXPECT_TRUE(torch::equal(d.repetitions, torch::tensor({4}, torch::kInt64)));
  EXPECT_TRUE(torch::equal(d.real_responses.view({-1}), torch::tensor({true, true, false, true})));
}

// Each bad file fails with one line that names the file and the key.
TEST(MonkeyV1Dataset, BadFilesNameTheFileAndTheKey) {
  fovea::test::TempDir dir;
  const std::string path = dir.file("bad.npz");
  auto error_for = [&](MonkeyV1File f) {
    f.write(path);
    return fovea::test::error_of([&] { fovea::data::load_monkey_v1_dataset(path); });
  };
  auto expect = [&](const std::string& msg, const std::string& part) {
    EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << msg;
    EXPECT_NE(msg.find(part), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  };
  MonkeyV1File f = hand_file();
  f.erase("real_responses");
  expect(error_for(f), "key 'real_responses' is missing");
  f = hand_file();
  f["real_responses"] = torch::ones({4, 3}, torch::kBool);
  expect(error_for(f), "real_responses has the shape (4, 3) but responses has (4, 2)");
  f = hand_file();
  f["test_real_responses"] = torch::ones({4, 2}, torch::kBool);
  expect(error_for(f), "test_real_responses has the shape (4, 2) but test_responses has (4, 2, 2)");
  f = hand_file();
  f["images"] = torch::zeros({4, 2, 2});
  expect(error_for(f), "images has 3 dimensions, expected 4 (images, 1, height, width)");
  f = hand_file();
  f["images"] = torch::zeros({3, 1, 2, 2});
  expect(error_for(f), "images has 3 images but responses has 4 trials");
  f = hand_file();
  f["train_idx"] = torch::tensor({0, 4}, torch::kInt64);
  expect(error_for(f), "train_idx holds the trial index 4 but responses has 4 trials");
  f = hand_file();
  f["real_responses"] = torch::full({4, 2}, 2.0f);
  expect(error_for(f), "real_responses must be a 0/1 mask");
  f = hand_file();
  f["repetitions"] = torch::tensor({3, 5}, torch::kInt64);
  expect(error_for(f), "repetitions must lie in [1, 4]");
  f = hand_file();
  f["responses"][0][0] = std::nanf("");
  expect(error_for(f), "responses holds 1 NaN values where real_responses is 1");
  f = hand_file();
  f["real_responses"] = torch::tensor({1, 1, 1, 1, 1, 1, 1, 1}, torch::kBool).reshape({4, 2});
  f["responses"] = torch::tensor({2.f, 1.f, 2.f, 2.f, 2.f, 3.f, 2.f, 4.f}).reshape({4, 2});
  expect(error_for(f), "responses of neuron 0 do not vary over the real trials");
  // A folder without the file, and no folder or file at all.
  fovea::data::V1LoadOptions o;
  o.layout = "monkey_cadena_2019";
  o.dir = dir.path().string();
  auto msg = fovea::test::error_of([&] { fovea::data::load_v1_dataset(o); });
  EXPECT_NE(msg.find("monkeyv1_cadena_2019.npz: file not found"), std::string::npos) << msg;
  o.dir.clear();
  msg = fovea::test::error_of([&] { fovea::data::load_v1_dataset(o); });
  EXPECT_NE(msg.find("needs data.dir"), std::string::npos) << msg;
}

}  // namespace
