// The Karamanlis et al. 2024 layout (openretina-datasets §3) on small fixture
// sessions written here in the published key layout (h5py axis order): the
// fixation rendering on the 600×800 screen, the antialiased bilinear resize,
// responses, z-scoring, the .npz stimulus cache, zipped sessions, one-line
// errors naming the file, and the download of the sessions folder from a
// local HTTP server. Expected values are computed here independently: the
// screen pixel by pixel from §3.3's formula, the resize from PIL's
// antialiasing filter (which torchvision's Resize(antialias=True) follows) as
// two weight matrices.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "fovea/data/karamanlis_dataset.h"
#include "fovea/error.h"
#include "fovea/io/atomic_file.h"
#include "fovea/io/hdf5.h"
#include "fovea/io/npy.h"
#include "data/hub_mirror.h"
#include "http_test_server.h"
#include "io/detail.h"
#include "test_util.h"

namespace {

namespace fs = std::filesystem;
namespace data = fovea::data;
using fovea::test::error_of;

constexpr int64_t kImgX = 160, kImgY = 120, kBlocks = 2, kBlockFrames = 6, kTestFrames = 5, kTrials = 3,
                  kNeurons = 4;

// One session's arrays in the file's (h5py) axis order.
struct Session {
  at::Tensor running_images = torch::randint(0, 256, {3, kImgX, kImgY}, torch::kFloat64);  // (n_img, x, y)
  at::Tensor frozen_images = torch::randint(0, 256, {2, kImgX, kImgY}, torch::kFloat64);
  at::Tensor running_fixations, frozen_fixations;          // (blocks, frames, 3), (frames, 3): image, τx, τy
  at::Tensor running_bin = torch::randint(0, 5, {kBlocks, kBlockFrames, kNeurons}, torch::kFloat64);
  at::Tensor frozen_bin = torch::randint(0, 5, {kTrials, kTestFrames, kNeurons}, torch::kFloat64);
  Session() {
    // Image numbers 1-based; centres that put the image partly off every screen edge.
    auto fixations = [](int64_t frames, int64_t images) {
      return torch::stack({torch::randint(1, images + 1, {frames}, torch::kInt64),
                           torch::randint(-120, 900, {frames}, torch::kInt64),
                           torch::randint(-100, 700, {frames}, torch::kInt64)},
                          1);
    };
    running_fixations = torch::stack({fixations(kBlockFrames, 3), fixations(kBlockFrames, 3)});
    frozen_fixations = fixations(kTestFrames, 2);
  }
  std::vector<std::pair<std::string, at::Tensor>> datasets() const {
    return {{"runningImages", running_images}, {"frozenImages", frozen_images},
            {"runningfixations", running_fixations.to(torch::kFloat64)},  // MATLAB stores doubles
            {"frozenfixations", frozen_fixations.to(torch::kFloat64)},
            {"runningbin", running_bin}, {"frozenbin", frozen_bin}};
  }
  void write(const std::string& file) const { fovea::io::write_h5(file, datasets()); }
};

// §3.3: screen pixel (py, px) shows image pixel (py + τy − 300, px + τx − 400),
// 0 outside the image; images (n_img, x, y), image numbers 1-based.
at::Tensor expected_screen(const at::Tensor& images_xy, const at::Tensor& fixation) {
  at::Tensor screen = torch::zeros({600, 800}, torch::kFloat64);
  auto s = screen.accessor<double, 2>();
  const at::Tensor img = images_xy.to(torch::kFloat64).contiguous();
  auto im = img.accessor<double, 3>();
  const int64_t m = fixation[0].item<int64_t>() - 1, tx = fixation[1].item<int64_t>(), ty = fixation[2].item<int64_t>();
  for (int64_t py = 0; py < 600; ++py)
    for (int64_t px = 0; px < 800; ++px) {
      const int64_t y = py + ty - 300, x = px + tx - 400;
      if (y >= 0 && y < img.size(2) && x >= 0 && x < img.size(1)) s[py][px] = im[m][x][y];
    }
  return screen;
}

// PIL's antialiased bilinear weights (ImagingResample, triangle filter with
// support = scale when downsampling), as an (out, in) matrix.
at::Tensor resize_weights(int64_t in, int64_t out) {
  at::Tensor w = torch::zeros({out, in}, torch::kFloat64);
  const double scale = double(in) / out, support = scale >= 1 ? scale : 1.0, inv = scale >= 1 ? 1.0 / scale : 1.0;
  for (int64_t i = 0; i < out; ++i) {
    const double center = scale * (i + 0.5);
    const int64_t lo = std::max<int64_t>(int64_t(center - support + 0.5), 0);
    const int64_t hi = std::min<int64_t>(int64_t(center + support + 0.5), in);
    double total = 0;
    for (int64_t j = lo; j < hi; ++j) total += std::max(0.0, 1.0 - std::abs((j - center + 0.5) * inv));
    for (int64_t j = lo; j < hi; ++j)
      w[i][j] = std::max(0.0, 1.0 - std::abs((j - center + 0.5) * inv)) / total;
  }
  return w;
}

// The expected (T, 60, 80) movie of images and fixations, in float64.
at::Tensor expected_movie(const at::Tensor& images_xy, const at::Tensor& fixations) {
  const at::Tensor wy = resize_weights(600, 60), wx = resize_weights(800, 80);
  std::vector<at::Tensor> frames;
  for (int64_t t = 0; t < fixations.size(0); ++t)
    frames.push_back(wy.matmul(expected_screen(images_xy, fixations[t])).matmul(wx.t()));
  return torch::stack(frames);
}

data::KaramanlisOptions options(const fs::path& dir) {
  data::KaramanlisOptions o;
  o.dir = dir.string();
  return o;
}

TEST(KaramanlisRendering, FixationsPlaceTheImageOnTheScreenWithoutThePortArtefact) {
  const at::Tensor images = torch::rand({2, 30, 40});  // (n_img, y, x)
  // Image 2 with its left edge at screen column 5 and top edge at row 3 (τx = 395,
  // τy = 297), then image 1 with its left edge at column 800, just off the screen.
  const at::Tensor fixations = torch::tensor({2, 395, 297, 1, -400, 300}, torch::kInt64).reshape({2, 3});
  const at::Tensor s = data::render_fixation_frames(images, fixations, 0, 2, "f.mat");
  ASSERT_EQ(s.sizes(), (at::IntArrayRef{2, 600, 800}));
  EXPECT_TRUE(s[0].narrow(0, 3, 30).narrow(1, 5, 40).equal(images[1]));
  // openretina's port writes image column −1 (the last) at column 4 and row −1 at row 2.
  EXPECT_EQ(s[0].narrow(1, 4, 1).abs().sum().item<float>(), 0.0f);
  EXPECT_EQ(s[0].narrow(0, 2, 1).abs().sum().item<float>(), 0.0f);
  EXPECT_FLOAT_EQ(s[0].sum().item<float>(), images[1].sum().item<float>());
  EXPECT_EQ(s[1].abs().sum().item<float>(), 0.0f);
  // Against the per-pixel formula, with the (n_img, x, y) file order.
  EXPECT_TRUE(s[0].to(torch::kFloat64).equal(expected_screen(images.transpose(1, 2), fixations[0])));

  const std::string e = error_of([&] {
    data::render_fixation_frames(images, torch::tensor({3, 0, 0}, torch::kInt64).reshape({1, 3}), 0, 1, "f.mat");
  });
  EXPECT_NE(e.find("f.mat: fixation 0 names image 3, the file has 2"), std::string::npos) << e;
}

TEST(KaramanlisRendering, ResizeIsAntialiasedBilinearAsTorchvision) {
  // Non-integer factors both ways, downsampling.
  const at::Tensor x = torch::rand({2, 23, 37});
  const at::Tensor y = data::resize_bilinear_antialias(x, 6, 9);
  ASSERT_EQ(y.sizes(), (at::IntArrayRef{2, 6, 9}));
  const at::Tensor expected = resize_weights(23, 6).matmul(x.to(torch::kFloat64)).matmul(resize_weights(37, 9).t());
  EXPECT_TRUE(y.to(torch::kFloat64).allclose(expected, 1e-5, 1e-6)) << (y - expected).abs().max();
  // The 600×800 -> 60×80 case: a plain 10×10 box would differ from the triangle filter.
  const at::Tensor big = torch::rand({1, 600, 800});
  const at::Tensor small = data::resize_bilinear_antialias(big, 60, 80);
  const at::Tensor e2 = resize_weights(600, 60).matmul(big[0].to(torch::kFloat64)).matmul(resize_weights(800, 80).t());
  EXPECT_TRUE(small[0].to(torch::kFloat64).allclose(e2, 1e-5, 1e-6));
  const at::Tensor box = torch::avg_pool2d(big, 10)[0].to(torch::kFloat64);
  EXPECT_GT((box - e2).abs().max().item<double>(), 1e-3);
}

TEST(Karamanlis, ReadsSessionsAsOpenretina) {
  fovea::test::TempDir dir;
  Session a, b;
  fs::create_directories(dir.path() / "2019_mouse_01");
  a.write((dir.path() / "2019_mouse_01" / "rec1_fixationmovie_data.mat").string());
  // Another stimulus in the session, and another species: both ignored.
  a.write((dir.path() / "2019_mouse_01" / "rec1_gratingflicker_data.mat").string());
  fs::create_directories(dir.path() / "2020_marmoset_01");
  a.write((dir.path() / "2020_marmoset_01" / "rec_fixationmovie_data.mat").string());
  // A zipped session keeps the key without ".zip".
  fovea::test::TempDir scratch;
  b.write(scratch.file("b_fixationmovie_data.mat"));
  fovea::io::detail::write_zip_atomic((dir.path() / "2019_mouse_02.zip").string(),
                                      {{"b_fixationmovie_data.mat", fovea::io::read_file(scratch.file("b_fixationmovie_data.mat"))}},
                                      true);

  data::KaramanlisOptions o = options(dir.path());
  o.fr_normalization = 2.0;
  const data::RetinaDataset d = data::load_karamanlis_2024(o);
  ASSERT_EQ(d.sessions(), (std::vector<std::string>{"2019_mouse_01", "2019_mouse_02"}));
  for (const auto& [key, s] : std::vector<std::pair<std::string, const Session*>>{{"2019_mouse_01", &a},
                                                                                   {"2019_mouse_02", &b}}) {
    // Training blocks in file order, then z-scored with the training movie's mean and std (ddof 1).
    const at::Tensor train = torch::cat({expected_movie(s->running_images, s->running_fixations[0]),
                                         expected_movie(s->running_images, s->running_fixations[1])});
    const at::Tensor test = expected_movie(s->frozen_images, s->frozen_fixations);
    const double mean = train.mean().item<double>(), sd = train.std(true).item<double>();
    const auto& m = d.movies.at(key);
    ASSERT_EQ(m.train.sizes(), (at::IntArrayRef{1, kBlocks * kBlockFrames, 60, 80})) << key;
    ASSERT_EQ(m.test.at("test").sizes(), (at::IntArrayRef{1, kTestFrames, 60, 80})) << key;
    EXPECT_TRUE(m.train[0].to(torch::kFloat64).allclose((train - mean) / sd, 1e-4, 1e-4)) << key;
    EXPECT_TRUE(m.test.at("test")[0].to(torch::kFloat64).allclose((test - mean) / sd, 1e-4, 1e-4)) << key;
    // Responses: (blocks, frames, N) -> (N, blocks·frames); (trials, frames, N) -> (trials, N, frames).
    const auto& r = d.responses.at(key);
    ASSERT_EQ(r.train.sizes(), (at::IntArrayRef{kNeurons, kBlocks * kBlockFrames}));
    for (int64_t blk = 0; blk < kBlocks; ++blk)
      for (int64_t t = 0; t < kBlockFrames; ++t)
        for (int64_t n = 0; n < kNeurons; ++n)
          ASSERT_FLOAT_EQ(r.train[n][blk * kBlockFrames + t].item<float>(),
                          s->running_bin[blk][t][n].item<float>() / 2.0f);
    const at::Tensor trials = r.test_by_trial.at("test");
    ASSERT_EQ(trials.sizes(), (at::IntArrayRef{kTrials, kNeurons, kTestFrames}));
    EXPECT_TRUE(trials.to(torch::kFloat64).allclose(s->frozen_bin.permute({0, 2, 1}) / 2.0));
    EXPECT_TRUE(r.test.at("test").to(torch::kFloat64).allclose(s->frozen_bin.mean(0).t() / 2.0));
  }
}

TEST(Karamanlis, ReadsAndWritesOpenretinasStimulusCache) {
  fovea::test::TempDir dir;
  Session a;
  fs::create_directories(dir.path() / "mouse_a");
  const std::string mat = (dir.path() / "mouse_a" / "x_fixationmovie_data.mat").string();
  a.write(mat);
  const std::string npz = (dir.path() / "mouse_a" / "x_fixationmovie_data_extracted_stimuli_60_80.npz").string();
  data::load_karamanlis_2024(options(dir.path()));
  // The rendered, not yet normalised movies, under openretina's name and keys.
  ASSERT_TRUE(fs::exists(npz));
  const at::Tensor cached = fovea::io::read_npz_key(npz, "train_data");
  ASSERT_EQ(cached.sizes(), (at::IntArrayRef{1, kBlocks * kBlockFrames, 60, 80}));
  EXPECT_EQ(cached.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(cached[0].narrow(0, 0, kBlockFrames).to(torch::kFloat64)
                  .allclose(expected_movie(a.running_images, a.running_fixations[0]), 1e-4, 1e-3));

  // A cache present (here one of different content) is read instead of rendering.
  const at::Tensor train = torch::arange(kBlocks * kBlockFrames * 60 * 80, torch::kFloat32).reshape({1, -1, 60, 80});
  const at::Tensor test = torch::ones({1, kTestFrames, 60, 80});
  fovea::io::write_npz(npz, {{"train_data", train}, {"test_data", test}});
  data::KaramanlisOptions o = options(dir.path());
  o.normalize_stimuli = false;
  const auto d = data::load_karamanlis_2024(o);
  EXPECT_TRUE(d.movies.at("mouse_a").train.equal(train));
  EXPECT_TRUE(d.movies.at("mouse_a").test.at("test").equal(test));

  fovea::io::write_npz(npz, {{"train_data", train.narrow(3, 0, 40)}, {"test_data", test}});
  std::string e = error_of([&] { data::load_karamanlis_2024(o); });
  EXPECT_NE(e.find(npz + ": 'train_data' has shape (1, 12, 60, 40), expected (1, frames, 60, 80)"), std::string::npos)
      << e;
  fovea::io::write_npz(npz, {{"train_data", train.narrow(1, 0, 7)}, {"test_data", test}});
  e = error_of([&] { data::load_karamanlis_2024(o); });
  EXPECT_NE(e.find(npz + ": the training movie has 7 frames, 'runningbin' in " + mat + " has 12"), std::string::npos)
      << e;
}

TEST(Karamanlis, BadSessionsAreOneLineErrorsNamingTheFileAndKey) {
  fovea::test::TempDir dir;
  fs::create_directories(dir.path() / "mouse_a");
  const std::string mat = (dir.path() / "mouse_a" / "x_fixationmovie_data.mat").string();
  data::KaramanlisOptions o = options(dir.path());
  o.write_cache = false;
  auto without = [&](const std::string& key, std::vector<std::pair<std::string, at::Tensor>> extra = {}) {
    Session s;
    std::vector<std::pair<std::string, at::Tensor>> kept;
    for (auto& kv : s.datasets())
      if (kv.first != key) kept.push_back(kv);
    for (auto& kv : extra) kept.push_back(kv);
    fovea::io::write_h5(mat, kept);
    const std::string e = error_of([&] { data::load_karamanlis_2024(o); });
    EXPECT_EQ(e.find('\n'), std::string::npos) << e;
    return e;
  };
  std::string e = without("runningbin");
  EXPECT_NE(e.find(mat + ": 'runningbin' is missing (expected (blocks, frames, neurons))"), std::string::npos) << e;
  e = without("frozenImages");
  EXPECT_NE(e.find(mat + ": 'frozenImages' is missing"), std::string::npos) << e;
  e = without("frozenfixations", {{"frozenfixations", torch::ones({kTestFrames, 2})}});
  EXPECT_NE(e.find(mat + ": 'frozenfixations' has 2 values per frame, expected 3"), std::string::npos) << e;
  e = without("runningbin", {{"runningbin", torch::ones({kBlocks, kBlockFrames + 1, kNeurons})}});
  EXPECT_NE(e.find(mat + ": the training movie has 12 frames, 'runningbin' in " + mat + " has 14"), std::string::npos)
      << e;
  e = without("frozenbin", {{"frozenbin", torch::ones({kTrials, kTestFrames, kNeurons + 1})}});
  EXPECT_NE(e.find(mat + ": 'runningbin' has 4 neurons, 'frozenbin' has 5"), std::string::npos) << e;

  fs::remove(mat);
  e = error_of([&] { data::load_karamanlis_2024(o); });
  EXPECT_NE(e.find("mouse_a: no file ends in fixationmovie_data.mat"), std::string::npos) << e;
  o.species = "marmoset";
  e = error_of([&] { data::load_karamanlis_2024(o); });
  EXPECT_NE(e.find(dir.path().string() + ": no entry's name contains 'marmoset'"), std::string::npos) << e;
}

// data.dir: karamanlis_2024 — the sessions folder listed with the Hub's tree
// API and fetched file by file from a local mirror; later runs use no network.
TEST(Karamanlis, FetchesTheSessionsFolderFromTheHub) {
  fovea::test::TempDir cache, scratch;
  Session a, b;
  a.write(scratch.file("a.mat"));
  b.write(scratch.file("b.mat"));
  const std::string zip = scratch.file("b.zip");
  fovea::io::detail::write_zip_atomic(zip, {{"b_fixationmovie_data.mat", fovea::io::read_file(scratch.file("b.mat"))}},
                                      true);
  fovea::test::HubMirror hub;
  const std::string root = "gollisch_lab/karamanlis_2024/sessions";
  hub.list(root, {{"directory", "20_mouse_a"}, {"file", "20_mouse_b.zip"}, {"directory", "20_marmoset_c"}});
  hub.list(root + "/20_mouse_a", {{"file", "r_fixationmovie_data.mat"}, {"file", "r_gratingflicker_data.mat"}});
  hub.serve(root + "/20_mouse_a/r_fixationmovie_data.mat", fovea::io::read_file(scratch.file("a.mat")));
  hub.serve(root + "/20_mouse_b.zip", fovea::io::read_file(zip));
  const fovea::io::DownloadOptions dl = fovea::test::quiet_download(cache);
  const std::string base = hub.base_url();
  const std::string folder = data::fetch_karamanlis_sessions("mouse", "fixationmovie", base, dl);
  EXPECT_EQ(hub.server.requests(hub.api(root + "/20_marmoset_c")), 0);
  EXPECT_EQ(hub.server.requests(hub.file(root + "/20_mouse_a/r_gratingflicker_data.mat")), 0);
  data::KaramanlisOptions o = options(folder);
  o.write_cache = false;
  const auto d = data::load_karamanlis_2024(o);
  ASSERT_EQ(d.sessions(), (std::vector<std::string>{"20_mouse_a", "20_mouse_b"}));
  EXPECT_TRUE(d.responses.at("20_mouse_b").test_by_trial.at("test").to(torch::kFloat64)
                  .allclose(b.frozen_bin.permute({0, 2, 1})));
  const int requests = hub.server.total_requests();
  EXPECT_EQ(data::fetch_karamanlis_sessions("mouse", "fixationmovie", base, dl), folder);
  EXPECT_EQ(hub.server.total_requests(), requests);

  // A mirror that is not a Hub "resolve" URL cannot be listed.
  fovea::io::DownloadOptions other = dl;
  other.cache_dir = scratch.file("other");
  const std::string e = error_of([&] { data::fetch_karamanlis_sessions("mouse", "fixationmovie", hub.server.url("/m"), other); });
  EXPECT_NE(e.find("cannot be listed"), std::string::npos) << e;
  // A missing listing is the download's one-line error naming the URL.
  const std::string e2 = error_of([&] {
    data::fetch_karamanlis_sessions("mouse", "fixationmovie", hub.server.url("/datasets/x/y/resolve/main"), other);
  });
  EXPECT_NE(e2.find("/api/datasets/x/y/tree/main/gollisch_lab/karamanlis_2024/sessions"), std::string::npos) << e2;
}

}  // namespace
