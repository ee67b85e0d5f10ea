// The goldin_2022 layout (doc §5): which files are sessions, the z-scored
// images, counts ÷ 0.3, repeats stacked in cell-number order, the split into
// single-image clips, bad input, and `fovea train` with the preset.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "cli/cli_runner.h"
#include "data/goldin_files.h"
#include "data/hub_mirror.h"
#include "fovea/data/goldin_dataset.h"
#include "fovea/data/movie_clips.h"
#include "fovea/io/atomic_file.h"
#include "http_test_server.h"
#include "io/detail.h"
#include "test_util.h"

namespace {

namespace data = fovea::data;
namespace goldin = fovea::test::goldin;
using fovea::test::error_of;
using fovea::test::TempDir;

// (x − mean) / std with the std's N−1, in float64: normalize_train_test_movies.
at::Tensor zscored(const at::Tensor& x, const at::Tensor& train) {
  return (x - train.mean()) / train.std(/*unbiased=*/true);
}

void expect_close(const at::Tensor& a, const at::Tensor& b, double tol = 1e-5) {
  ASSERT_EQ(a.sizes(), b.sizes());
  EXPECT_TRUE(torch::allclose(a.to(torch::kFloat64), b.to(torch::kFloat64), tol, tol)) << a << "\n" << b;
}

TEST(GoldinDataset, ReadsTheFilesOfOneSpeciesWithOpenretinasPreprocessing) {
  TempDir dir;
  const goldin::Session a = goldin::make_session(3, 6, 5, 0.0), b = goldin::make_session(2, 6, 5, 3.0);
  goldin::write(dir.file("mouse_01.h5"), a);
  goldin::write(dir.file("mouse_02.h5"), b);
  goldin::write(dir.file("axolotl_01.h5"), b);
  std::ofstream(dir.file("README.txt")) << "not a session";

  data::GoldinOptions o;
  o.dir = dir.path().string();
  const data::RetinaDataset d = data::load_goldin_2022(o);
  ASSERT_EQ(d.sessions(), (std::vector<std::string>{"mouse_01", "mouse_02"}));
  const auto& m = d.movies.at("mouse_01");
  ASSERT_EQ(m.train.sizes(), (std::vector<int64_t>{1, 8, 6, 5}));  // one image per frame
  expect_close(m.train[0], zscored(a.train_images, a.train_images));
  expect_close(m.test.at("test")[0], zscored(a.test_images, a.train_images));
  expect_close(d.movies.at("mouse_02").train[0], zscored(b.train_images, b.train_images));
  const auto& r = d.responses.at("mouse_01");
  expect_close(r.train, a.train_counts / 0.3);
  expect_close(r.test.at("test"), a.test_counts / 0.3);
  // (repeats, neurons, images): neuron k is the k-th cell in number order 1, 2, 10.
  const at::Tensor trials = r.test_by_trial.at("test");
  ASSERT_EQ(trials.sizes(), (std::vector<int64_t>{4, 3, 3}));
  for (int64_t n = 0; n < 3; ++n) expect_close(trials.select(1, n), a.repeats[static_cast<size_t>(n)].second / 0.3);

  o.specie = "axolotl";
  EXPECT_EQ(data::load_goldin_2022(o).sessions(), std::vector<std::string>{"axolotl_01"});
}

TEST(GoldinDataset, SingleImageClipsValidateOnOpenretinasRandomImages) {
  TempDir dir;
  const goldin::Session a = goldin::make_session(3, 6, 5, 0.0);
  goldin::write(dir.file("mouse_01.h5"), a);
  data::GoldinOptions o;
  o.dir = dir.path().string();
  const data::RetinaDataset d = data::load_goldin_2022(o);
  data::ClipSplitOptions split;
  split.clip_length = 1;  // dataloader/goldin_2022.yaml (with 3 of 8 images instead of 640)
  split.num_val_clips = 3;
  split.seed = 42;
  const auto s = data::split_session(d.movies.at("mouse_01").train, d.responses.at("mouse_01").train, split, "mouse_01");
  // numpy.random.RandomState(42).choice(8, 3, replace=False), in drawn order.
  EXPECT_EQ(s.val_clip_indices, (std::vector<int64_t>{1, 5, 0}));
  const at::Tensor counts = a.train_counts / 0.3;
  expect_close(s.val_responses, torch::stack({counts.select(1, 1), counts.select(1, 5), counts.select(1, 0)}));
  expect_close(s.train_responses, torch::stack({counts.select(1, 2), counts.select(1, 3), counts.select(1, 4),
                                                counts.select(1, 6), counts.select(1, 7)}));
}

TEST(GoldinDataset, BadFilesGetOneLineNamingTheFileAndTheField) {
  TempDir dir;
  const std::string file = dir.file("mouse_01.h5");
  data::GoldinOptions o;
  o.dir = dir.path().string();
  const goldin::Session good = goldin::make_session(3, 6, 5, 0.0);
  auto expect_error = [&](const std::string& field, const std::string& what) {
    const std::string e = error_of([&] { data::load_goldin_2022(o); });
    EXPECT_EQ(e.rfind(file + ": ", 0), 0u) << e;
    EXPECT_NE(e.find(field), std::string::npos) << e;
    EXPECT_NE(e.find(what), std::string::npos) << e;
    EXPECT_EQ(e.find('\n'), std::string::npos) << e;
  };

  goldin::write_without(file, good, "train/response/binned");
  expect_error("/train/response/binned", "is missing");

  goldin::Session flat = good;
  flat.train_images = good.train_images.reshape({8, 30});
  goldin::write(file, flat);
  expect_error("/train/stimulus", "has 2 dimensions, expected 3");

  goldin::Session short_responses = good;  // one image's responses missing
  short_responses.train_counts = good.train_counts.narrow(1, 0, 7);
  goldin::write(file, short_responses);
  expect_error("/train/response/binned", "has 7 responses per neuron, /train/stimulus has 8 images");

  goldin::Session off = good;  // the average is not the mean over the repeats
  off.test_counts = good.test_counts + 1.0;
  goldin::write(file, off);
  expect_error("/test/response/binned", "differs from the mean over /test/repeats");

  goldin::Session missing_cell = good;
  missing_cell.repeats.pop_back();
  goldin::write(file, missing_cell);
  expect_error("/test/repeats", "holds 2 cells, /test/response/binned has 3 neurons");

  goldin::write(file, good);  // truncated
  const auto size = std::filesystem::file_size(file);
  std::filesystem::resize_file(file, size / 2);
  const std::string e = error_of([&] { data::load_goldin_2022(o); });
  EXPECT_EQ(e.rfind(file + ": ", 0), 0u) << e;
  EXPECT_EQ(e.find('\n'), std::string::npos) << e;
}

TEST(GoldinDataset, PublishedFolderIsListedAndDownloadedOnce) {
  TempDir scratch, cache;
  const goldin::Session a = goldin::make_session(3, 6, 5, 0.0), b = goldin::make_session(2, 6, 5, 1.0);
  goldin::write(scratch.file("mouse_01.h5"), a);
  goldin::write(scratch.file("mouse_02.h5"), b);
  fovea::io::detail::write_zip_atomic(scratch.file("mouse_02.zip"),
                                      {{"mouse_02.h5", fovea::io::read_file(scratch.file("mouse_02.h5"))}}, true);
  fovea::test::HubMirror hub;
  const std::string folder = "marre_lab/goldin_2022";
  hub.list(folder, {{"file", "mouse_01.h5"}, {"file", "mouse_02.zip"}, {"file", "axolotl_01.h5"}});
  hub.serve(folder + "/mouse_01.h5", fovea::io::read_file(scratch.file("mouse_01.h5")));
  hub.serve(folder + "/mouse_02.zip", fovea::io::read_file(scratch.file("mouse_02.zip")));
  fovea::io::DownloadOptions dl = fovea::test::quiet_download(cache);
  const std::string base = hub.base_url();
  data::GoldinOptions o;
  o.dir = data::fetch_goldin_2022("mouse", base, dl);
  EXPECT_EQ(hub.server.requests(hub.file(folder + "/axolotl_01.h5")), 0);  // another species
  const data::RetinaDataset d = data::load_goldin_2022(o);
  ASSERT_EQ(d.sessions(), (std::vector<std::string>{"mouse_01", "mouse_02"}));  // the zip unpacked
  expect_close(d.responses.at("mouse_02").train, b.train_counts / 0.3);
  const int requests = hub.server.total_requests();
  EXPECT_EQ(data::fetch_goldin_2022("mouse", base, dl), o.dir);  // later runs read the cache
  EXPECT_EQ(hub.server.total_requests(), requests);
  {
    // data.dir: goldin_2022 through `fovea train`: from the mirror into a fresh cache.
    TempDir run_cache;
    const auto r = fovea::test::train_from_mirror(base, run_cache, "retina_goldin_2022.yaml", "goldin_2022", scratch,
                                                  "data.num_val_clips=2 training.batch_size=2 training.max_epochs=1"
                                                  " training.accumulate_grad_batches=1 model.core.spatial_kernel_sizes=[3]");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(std::filesystem::exists(run_cache.file("published/goldin_2022/mouse_02.h5")));
    EXPECT_TRUE(std::filesystem::exists(scratch.file("run/model.safetensors")));
  }

  // A file the listing names but the server lacks: the error names its URL.
  TempDir other_cache;
  dl.cache_dir = other_cache.path().string();
  hub.list(folder, {{"file", "mouse_03.h5"}});
  const std::string e = error_of([&] { data::fetch_goldin_2022("mouse", base, dl); });
  EXPECT_EQ(e.rfind(base + "/marre_lab/goldin_2022/mouse_03.h5", 0), 0u) << e;
  EXPECT_NE(e.find("404"), std::string::npos) << e;
}

TEST(GoldinDataset, TrainsWithThePresetThroughTheCommandLine) {
  ASSERT_TRUE(std::filesystem::exists(FOVEA_BINARY)) << FOVEA_BINARY;
  TempDir dir;
  std::filesystem::create_directories(dir.path() / "data");
  goldin::write(dir.file("data/mouse_01.h5"), goldin::make_session(3, 32, 32, 0.0));  // kernel 30 needs >= 30 pixels
  const auto r = fovea::test::run_fovea("train -q --threads 1 --config " + std::string(FOVEA_SOURCE_DIR) +
                                            "/configs/retina_goldin_2022.yaml data.dir=" + dir.file("data") +
                                            " output.dir=" + dir.file("run") +
                                            " data.num_val_clips=2 training.batch_size=2 training.max_epochs=1"
                                            " training.accumulate_grad_batches=1",
                                        dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(std::filesystem::exists(dir.file("run/model.safetensors"))) << r.out;
  EXPECT_TRUE(std::filesystem::exists(dir.file("run/metrics.csv")));
  EXPECT_TRUE(std::filesystem::exists(dir.file("run/eval.json")));
  // The model's spec reads the same data again.
  const auto ev = fovea::test::run_fovea("eval --threads 1 --model " + dir.file("run/model.safetensors") + " --data " +
                                             dir.file("data") + " -o " + dir.file("eval"),
                                         dir);
  ASSERT_EQ(ev.code, 0) << ev.err;
}

}  // namespace
