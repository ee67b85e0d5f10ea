// The simulated V1 dataset: deterministic from the seed, in minimodel's
// layout, consistent with its ground truth, with a sensible noise ceiling,
// and readable by load_v1_dataset.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>

#include "fovea/data/simulate_v1.h"
#include "fovea/data/v1_dataset.h"
#include "fovea/error.h"
#include "fovea/eval/metrics.h"
#include "fovea/io/atomic_file.h"
#include "fovea/io/npy.h"
#include "temp_dir.h"

namespace {

using fovea::data::SimulateV1Options;

SimulateV1Options small_options(uint64_t seed = 7) {
  SimulateV1Options o;
  o.n_neurons = 24;
  o.n_train_images = 300;
  o.n_test_images = 60;
  o.n_repeats = 10;
  o.seed = seed;
  return o;  // default 66x130 images, half complex cells, noise 1
}

std::map<std::string, at::Tensor> read_all(const std::string& path) {
  std::map<std::string, at::Tensor> out;
  for (auto& [k, t] : fovea::io::read_npz(path)) out[k] = t;
  return out;
}

// One simulation shared by the tests that only read it.
class SimulatedV1 : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir = new fovea::testing::TempDir("fovea_sim");
    summary = new fovea::data::SimulateV1Summary(fovea::data::simulate_v1(dir->path(), small_options()));
  }
  static void TearDownTestSuite() {
    delete summary;
    delete dir;
  }
  static fovea::testing::TempDir* dir;
  static fovea::data::SimulateV1Summary* summary;
};
fovea::testing::TempDir* SimulatedV1::dir = nullptr;
fovea::data::SimulateV1Summary* SimulatedV1::summary = nullptr;

TEST_F(SimulatedV1, WritesMinimodelLayout) {
  for (const char* name : {"images.npy", "responses.npz", "ground_truth.npz", "README.txt"})
    EXPECT_TRUE(std::filesystem::exists(dir->file(name))) << name;
  EXPECT_EQ(summary->files.size(), 4u);

  at::Tensor images = fovea::io::read_npy(dir->file("images.npy"));
  ASSERT_EQ(images.sizes(), (at::IntArrayRef{360, 66, 130}));
  EXPECT_EQ(images.scalar_type(), at::kFloat);
  at::Tensor d = images.to(at::kDouble);
  EXPECT_NEAR(d.mean().item<double>(), 0.0, 1e-4);
  EXPECT_NEAR(d.std(false).item<double>(), 1.0, 1e-4);
  // Not noise: neighbouring pixels of natural-like images are strongly correlated.
  at::Tensor left = d.slice(2, 0, 129).flatten(), right = d.slice(2, 1, 130).flatten();
  const double neighbour_corr = at::corrcoef(at::stack({left, right}))[0][1].item<double>();
  EXPECT_GT(neighbour_corr, 0.7);

  auto r = read_all(dir->file("responses.npz"));
  for (const char* k : {"sp", "istim_sp", "ss_all", "istim_ss", "xpos", "ypos"}) ASSERT_TRUE(r.count(k)) << k;
  EXPECT_EQ(r["sp"].sizes(), (at::IntArrayRef{24, 300}));  // (neurons, trials), as minimodel stores it
  EXPECT_EQ(r["ss_all"].sizes(), (at::IntArrayRef{60, 10, 24}));
  EXPECT_TRUE(r["istim_ss"].equal(at::arange(60, at::kLong)));
  // Every training image exactly once, none of the test images.
  EXPECT_TRUE(std::get<0>(r["istim_sp"].sort()).equal(at::arange(60, 360, at::kLong)));
  EXPECT_FALSE(r["istim_sp"].equal(at::arange(60, 360, at::kLong))) << "presentation order should be shuffled";
  EXPECT_EQ(r["xpos"].sizes(), (at::IntArrayRef{24}));
  EXPECT_GE(r["sp"].min().item<float>(), 0.0f);
  EXPECT_GE(r["ss_all"].min().item<float>(), 0.0f);
  // Sparse-ish like deconvolved calcium: many trials near zero.
  EXPECT_GT((r["sp"] == 0).to(at::kDouble).mean().item<double>(), 0.2);
}

TEST_F(SimulatedV1, GroundTruthParametersAreSensible) {
  auto g = read_all(dir->file("ground_truth.npz"));
  EXPECT_EQ(g["test_rates"].sizes(), (at::IntArrayRef{60, 24}));
  EXPECT_EQ(g["image_rates"].sizes(), (at::IntArrayRef{360, 24}));
  EXPECT_TRUE(g["image_rates"].slice(0, 0, 60).equal(g["test_rates"]));
  EXPECT_EQ(g["type"].sum().item<int64_t>(), 12);  // complex fraction 0.5
  EXPECT_GE(g["sigma"].min().item<double>(), 3.0);
  EXPECT_LE(g["sigma"].max().item<double>(), 8.0);
  // Receptive fields inside the image, at two envelope widths from the edges.
  at::Tensor reach = 2.0 * g["sigma"] / g["aspect"];
  EXPECT_TRUE((g["x"] - reach >= 0).all().item<bool>());
  EXPECT_TRUE((g["x"] + reach <= 129).all().item<bool>());
  EXPECT_TRUE((g["y"] >= 0).all().item<bool>() && (g["y"] <= 65).all().item<bool>());
  EXPECT_EQ(g["rf_even"].sizes(), (at::IntArrayRef{24, 66, 130}));
  // The filters' energy sits around the stated centre.
  at::Tensor energy = g["rf_even"][5].to(at::kDouble).pow(2);
  at::Tensor cols = at::arange(130, at::kDouble);
  const double centre_x = (energy.sum(0) * cols).sum().item<double>() / energy.sum().item<double>();
  EXPECT_NEAR(centre_x, g["x"][5].item<double>(), 2.0);
}

TEST_F(SimulatedV1, TrialAveragesFollowTheTrueRates) {
  auto r = read_all(dir->file("responses.npz"));
  auto g = read_all(dir->file("ground_truth.npz"));
  at::Tensor average = r["ss_all"].to(at::kDouble).mean(1);
  at::Tensor truth = g["test_rates"].to(at::kDouble);
  at::Tensor corr = fovea::eval::correlation(average, truth);
  EXPECT_GT(corr.min().item<double>(), 0.6) << corr;
  EXPECT_GT(corr.mean().item<double>(), 0.85) << corr;
  // The expected trial is the rate itself: the means agree within the noise.
  const double mean_ratio = average.mean().item<double>() / truth.mean().item<double>();
  EXPECT_NEAR(mean_ratio, 1.0, 0.05);
  // Training trials follow the rates of their images too.
  at::Tensor sp_truth = g["image_rates"].index_select(0, r["istim_sp"]).to(at::kDouble);
  at::Tensor sp_corr = fovea::eval::correlation(r["sp"].t().to(at::kDouble), sp_truth);
  EXPECT_GT(sp_corr.mean().item<double>(), 0.4) << sp_corr;
}

TEST_F(SimulatedV1, FevSpreadsOverASensibleRange) {
  at::Tensor fev = summary->fev;
  ASSERT_EQ(fev.sizes(), (at::IntArrayRef{24}));
  at::Tensor sorted = std::get<0>(fev.sort());
  EXPECT_GT(summary->mean_fev, 0.3);
  EXPECT_LT(summary->mean_fev, 0.7);
  EXPECT_GT(sorted[2].item<double>(), 0.05) << sorted;   // ~10th percentile
  EXPECT_LT(sorted[21].item<double>(), 0.95) << sorted;  // ~90th percentile
  EXPECT_GT(sorted[21].item<double>() - sorted[2].item<double>(), 0.25) << "FEV should spread: " << sorted;
  // It is the FEV of the written file.
  auto r = read_all(dir->file("responses.npz"));
  EXPECT_TRUE(fovea::eval::fev(r["ss_all"]).allclose(fev));
}

TEST_F(SimulatedV1, LoadsWithTheV1Reader) {
  fovea::data::V1LoadOptions o;
  o.images_path = dir->file("images.npy");
  o.responses_path = dir->file("responses.npz");
  fovea::data::V1Dataset data = fovea::data::load_v1_dataset(o);
  EXPECT_EQ(data.n_neurons(), 24);
  EXPECT_EQ(data.images.sizes(), (at::IntArrayRef{360, 66, 130}));
  EXPECT_EQ(data.itrain.size(0) + data.ival.size(0), 300);
  EXPECT_EQ(data.test_images().sizes(), (at::IntArrayRef{60, 1, 66, 130}));
  // FEV does not depend on the per-neuron scaling.
  EXPECT_TRUE(data.fev.allclose(summary->fev, 1e-4, 1e-6));
}

TEST(SimulateV1, SameSeedGivesIdenticalFiles) {
  fovea::testing::TempDir a{"fovea_sim_a"}, b{"fovea_sim_b"}, c{"fovea_sim_c"};
  SimulateV1Options o = small_options(11);
  o.n_train_images = 80;
  o.n_test_images = 20;
  o.n_repeats = 4;
  fovea::data::simulate_v1(a.path(), o);
  // The thread count must not matter either (sums in a fixed order).
  const int threads = at::get_num_threads();
  at::set_num_threads(2);
  fovea::data::simulate_v1(b.path(), o);
  at::set_num_threads(threads);
  for (const char* name : {"images.npy", "responses.npz", "ground_truth.npz", "README.txt"})
    EXPECT_TRUE(fovea::io::read_file(a.file(name)) == fovea::io::read_file(b.file(name))) << name;
  o.seed = 12;
  fovea::data::simulate_v1(c.path(), o);
  EXPECT_FALSE(fovea::io::read_file(a.file("images.npy")) == fovea::io::read_file(c.file("images.npy")));
  EXPECT_FALSE(fovea::io::read_file(a.file("responses.npz")) == fovea::io::read_file(c.file("responses.npz")));
}

TEST(SimulateV1, NoiseFreeTrialsEqualTheRates) {
  fovea::testing::TempDir dir{"fovea_sim"};
  SimulateV1Options o = small_options(3);
  o.n_train_images = 50;
  o.n_test_images = 10;
  o.n_repeats = 3;
  o.noise_scale = 0.0;
  fovea::data::simulate_v1(dir.path(), o);
  auto r = read_all(dir.file("responses.npz"));
  auto g = read_all(dir.file("ground_truth.npz"));
  EXPECT_TRUE(r["ss_all"].equal(g["test_rates"].unsqueeze(1).expand({10, 3, 24})));
  EXPECT_TRUE(r["sp"].equal(g["image_rates"].index_select(0, r["istim_sp"]).t()));
}

TEST(SimulateV1, MoreNoiseLowersTheFev) {
  fovea::testing::TempDir quiet{"fovea_sim_q"}, loud{"fovea_sim_l"};
  SimulateV1Options o = small_options(5);
  o.n_train_images = 50;
  o.n_neurons = 16;
  const double fev_quiet = fovea::data::simulate_v1(quiet.path(), o).mean_fev;
  o.noise_scale = 2.0;
  const double fev_loud = fovea::data::simulate_v1(loud.path(), o).mean_fev;
  EXPECT_LT(fev_loud, fev_quiet - 0.1);
}

TEST(SimulateV1, OtherSizesAndAllSimpleCells) {
  fovea::testing::TempDir dir{"fovea_sim"};
  SimulateV1Options o = small_options(9);
  o.n_train_images = 40;
  o.n_test_images = 8;
  o.n_repeats = 3;
  o.height = 33;
  o.width = 65;
  o.complex_fraction = 0.0;
  fovea::data::simulate_v1(dir.path(), o);
  auto g = read_all(dir.file("ground_truth.npz"));
  EXPECT_EQ(g["type"].sum().item<int64_t>(), 0);
  EXPECT_EQ(fovea::io::read_npy(dir.file("images.npy")).sizes(), (at::IntArrayRef{48, 33, 65}));
  // Envelopes scale with the image: 3-8 px at 66 px, half that at 33.
  EXPECT_LE(g["sigma"].max().item<double>(), 4.0);
}

TEST(SimulateV1, RejectsBadOptions) {
  fovea::testing::TempDir dir{"fovea_sim"};
  auto expect_rejected = [&](SimulateV1Options o, const std::string& fragment) {
    try {
      fovea::data::simulate_v1(dir.path(), o);
      ADD_FAILURE() << "accepted options that should fail with '" << fragment << "'";
    } catch (const fovea::Error& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  SimulateV1Options o = small_options();
  o.n_repeats = 1;
  expect_rejected(o, "repeats");
  o = small_options();
  o.n_neurons = 0;
  expect_rejected(o, "neurons");
  o = small_options();
  o.complex_fraction = 1.5;
  expect_rejected(o, "complex fraction");
  o = small_options();
  o.noise_scale = -1;
  expect_rejected(o, "noise scale");
  o = small_options();
  o.height = 8;
  expect_rejected(o, "16x16");
  EXPECT_FALSE(std::filesystem::exists(dir.file("images.npy"))) << "nothing is written for bad options";
}

}  // namespace
