// The chirp and moving-bar pickles (openretina-datasets §2) on fixtures in the
// published layout: a pickled bare numpy uint8 array (T, 18, 16, 3). Expected
// values come from §2.1/§2.2: the first two channels, (x − 128)/128, the moving
// bar cut to [90:-30] (1104 -> 984 = 8 × 123 frames), every 2nd frame of a
// 60 Hz file, tiling per trigger count and the left-eye mirror.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <string>

#include "data/numpy_pickle_writer.h"
#include "fovea/data/artificial_stimuli.h"
#include "fovea/error.h"
#include "fovea/io/hdf5.h"
#include "test_util.h"

namespace {

namespace data = fovea::data;
using fovea::test::error_of;

// A pickled bare array, as `pickle.dump(array)`: the dict pickle of one entry
// without its dict opcodes ("\x80\x03}(" + key ... "u.").
std::string bare_array_pickle(const at::Tensor& t, const std::string& descr) {
  fovea::test::NumpyPickle p;
  p.add_array("a", t, descr);
  const std::string dict = p.bytes();
  const size_t head = 4 + 5 + 1;  // PROTO 3, EMPTY_DICT, MARK; X <len32> "a"
  return std::string("\x80\x03", 2) + dict.substr(head, dict.size() - head - 2) + ".";
}

std::string write(const fovea::test::TempDir& dir, const std::string& name, const std::string& bytes) {
  const std::string path = dir.file(name);
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

// The published layout: channel c of frame t at pixel (y, x) holds (t + 7c + y + x) mod 256.
at::Tensor stimulus(int64_t frames) {
  const auto t = torch::arange(frames).view({-1, 1, 1, 1}), y = torch::arange(18).view({1, -1, 1, 1}),
             x = torch::arange(16).view({1, 1, -1, 1}), c = torch::arange(3).view({1, 1, 1, -1});
  return ((t + 7 * c + y + x) % 256).to(torch::kUInt8);
}

TEST(ArtificialStimuli, ChirpIsTheFirstTwoChannelsNormalisedAsOpenretina) {
  fovea::test::TempDir dir;
  const at::Tensor raw = stimulus(990);
  const std::string path = write(dir, "RGC_Chirp_30Hz_18_16.pickle", bare_array_pickle(raw, "u1"));
  const at::Tensor s = data::load_artificial_stimulus(path, data::ArtificialStimulus::chirp);
  ASSERT_EQ(s.sizes(), (at::IntArrayRef{2, 990, 18, 16}));
  EXPECT_EQ(s.scalar_type(), torch::kFloat32);
  // Frame 5, channel 1, pixel (2, 3): (5 + 7 + 2 + 3 − 128) / 128.
  EXPECT_FLOAT_EQ(s[1][5][2][3].item<float>(), (17.0f - 128.0f) / 128.0f);
  EXPECT_TRUE(s.equal((raw.narrow(3, 0, 2).permute({3, 0, 1, 2}).to(torch::kFloat32) - 128) / 128));
  data::ArtificialStimulusOptions raw_values;
  raw_values.normalize = false;
  EXPECT_FLOAT_EQ(data::load_artificial_stimulus(path, data::ArtificialStimulus::chirp, raw_values)[0][300][0][0]
                      .item<float>(),
                  float(300 % 256));
}

TEST(ArtificialStimuli, MovingBarLosesItsFirst90AndLast30Frames) {
  fovea::test::TempDir dir;
  const std::string path = write(dir, "mb.pickle", bare_array_pickle(stimulus(1104), "u1"));
  const at::Tensor s = data::load_artificial_stimulus(path, data::ArtificialStimulus::moving_bar);
  ASSERT_EQ(s.sizes(), (at::IntArrayRef{2, data::kMovingBarDirections * data::kMovingBarDirectionFrames, 18, 16}));
  EXPECT_FLOAT_EQ(s[0][0][0][0].item<float>(), (90.0f - 128.0f) / 128.0f);           // file frame 90
  EXPECT_FLOAT_EQ(s[0][983][0][0].item<float>(), ((1073 % 256) - 128.0f) / 128.0f);  // file frame 1073
  // A 60 Hz file keeps every second frame before the cut: file frame 2·90 first.
  const std::string fast = write(dir, "mb60.pickle", bare_array_pickle(stimulus(2208), "u1"));
  data::ArtificialStimulusOptions o;
  o.downsample_t_factor = 2;
  const at::Tensor f = data::load_artificial_stimulus(fast, data::ArtificialStimulus::moving_bar, o);
  ASSERT_EQ(f.size(1), 984);
  EXPECT_FLOAT_EQ(f[0][0][0][0].item<float>(), (180.0f - 128.0f) / 128.0f);
  EXPECT_FLOAT_EQ(f[0][1][0][0].item<float>(), (182.0f - 128.0f) / 128.0f);
}

TEST(ArtificialStimuli, SessionMovieIsTiledPerTriggerAndMirroredForTheLeftEye) {
  const at::Tensor s = torch::rand({2, 5, 3, 4});
  const at::Tensor right = data::session_artificial_movie(s, 3, false);
  ASSERT_EQ(right.sizes(), (at::IntArrayRef{2, 15, 3, 4}));
  EXPECT_TRUE(right.narrow(1, 10, 5).equal(s));
  const at::Tensor left = data::session_artificial_movie(s, 2, true);
  EXPECT_TRUE(left.narrow(1, 5, 5).select(3, 0).equal(s.select(3, 3)));
  EXPECT_NE(error_of([&] { data::session_artificial_movie(s, 0, false); }).find("no complete repetition"),
            std::string::npos);
}

TEST(ArtificialStimuli, BadFilesAreOneLineErrorsNamingTheFile) {
  fovea::test::TempDir dir;
  std::string path = write(dir, "a.pickle", bare_array_pickle(stimulus(990).narrow(3, 0, 1).contiguous(), "u1"));
  std::string e = error_of([&] { data::load_artificial_stimulus(path, data::ArtificialStimulus::chirp); });
  EXPECT_NE(e.find(path + ": the stimulus has 1 colour channel(s) on axis 3, expected at least 2"), std::string::npos)
      << e;
  path = write(dir, "b.pickle", bare_array_pickle(torch::zeros({990, 18, 16}, torch::kUInt8), "u1"));
  e = error_of([&] { data::load_artificial_stimulus(path, data::ArtificialStimulus::chirp); });
  EXPECT_NE(e.find(path + ": the stimulus has 3 dimensions, expected 4 (frames, height, width, colours)"),
            std::string::npos) << e;
  fovea::test::NumpyPickle dict;
  dict.add_array("x", stimulus(4), "u1");
  path = write(dir, "c.pickle", dict.bytes());
  e = error_of([&] { data::load_artificial_stimulus(path, data::ArtificialStimulus::chirp); });
  EXPECT_NE(e.find(path + ": expected a pickled numpy array"), std::string::npos) << e;
  path = write(dir, "d.pickle", bare_array_pickle(stimulus(100), "u1"));
  e = error_of([&] { data::load_artificial_stimulus(path, data::ArtificialStimulus::moving_bar); });
  EXPECT_NE(e.find(path + ": the moving bar has 100 frames, expected more than 120"), std::string::npos) << e;
  path = write(dir, "e.pickle", bare_array_pickle(stimulus(990), "u1").substr(0, 500));
  e = error_of([&] { data::load_artificial_stimulus(path, data::ArtificialStimulus::chirp); });
  EXPECT_NE(e.find(path), std::string::npos) << e;
  EXPECT_EQ(e.find('\n'), std::string::npos) << e;
}

// The recordings' chirp and moving-bar responses as test stimuli of a Höfling
// dataset: kept ROIs found by id, every second chirp trigger (990 samples over
// 32.98999999 s), every moving-bar trigger (123 samples over 4.054001 s), the
// first kept ROI's trigger row, numpy.interp (exact here: the traces are
// linear in time), each ROI divided by its std (ddof 0), the repetitions as
// trials, and the left eye's stimulus mirrored.
TEST(ArtificialStimuli, HoeflingResponsesToChirpAndMovingBarBecomeTestStimuli) {
  fovea::test::TempDir dir;
  const std::string chirp = write(dir, "chirp.pickle", bare_array_pickle(stimulus(990), "u1"));
  const std::string mb = write(dir, "mb.pickle", bare_array_pickle(stimulus(1104), "u1"));
  const std::string g = "session_1_ventral1_20200101";
  // Three ROIs in the file (ids 9, 3, 5); the dataset kept ids 5 and 9 (rows 2, 0).
  const at::Tensor a = torch::tensor({1.0, 2.0, 3.0}, torch::kFloat64), b = torch::tensor({0.5, -1.0, 2.0}, torch::kFloat64);
  const at::Tensor t = torch::arange(0.0, 250.0, 0.128, torch::kFloat64);
  const at::Tensor traces = a.unsqueeze(1) + b.unsqueeze(1) * t.unsqueeze(0);
  const at::Tensor chirp_triggers = torch::stack({torch::arange(10, 20) * 20.0 + 1000.0,  // rows 0, 1 unused
                                                  torch::arange(10, 20) * 20.0 + 1000.0,
                                                  10.0 + torch::arange(10) * 20.0});
  const at::Tensor mb_triggers = torch::stack({torch::zeros({24}), torch::zeros({24}), 5.0 + torch::arange(24) * 4.2});
  fovea::io::write_h5(dir.file("responses.h5"),
                      {{g + "/roi_ids", torch::tensor({9, 3, 5}, torch::kInt32)},
                       {g + "/chirp_inferred_spikes", traces.to(torch::kFloat32)},
                       {g + "/chirp_traces_times", t.unsqueeze(0).repeat({3, 1})},
                       {g + "/chirp_trigger_times", chirp_triggers.to(torch::kFloat32)},
                       {g + "/mb_spikes", traces.to(torch::kFloat32)},
                       {g + "/mb_traces_t0", torch::zeros({3}, torch::kFloat64)},
                       {g + "/mb_traces_dt", torch::full({3}, 0.128, torch::kFloat64)},
                       {g + "/mb_trigger_times", mb_triggers.to(torch::kFloat32)}});
  data::RetinaDataset d;
  d.movies[g].test["test"] = torch::zeros({2, 10, 18, 16});
  d.responses[g].info["roi_ids"] = torch::tensor({5, 9}, torch::kInt64);
  d.responses[g].info["eye_is_left"] = torch::tensor({1}, torch::kInt64);
  data::HoeflingArtificialOptions o;
  o.responses_path = dir.file("responses.h5");
  o.chirp_path = chirp;
  o.moving_bar_path = mb;
  o.scale_traces = 2.0;
  data::add_hoefling_artificial_stimuli(d, o);

  // The expected clock and responses, built here from the stored float32 triggers.
  auto expected = [&](const at::Tensor& triggers, int64_t samples, double duration, int64_t reps) {
    std::vector<at::Tensor> parts;
    for (int64_t k = 0; k < triggers.size(0); ++k) {
      const double s0 = triggers[k].to(torch::kFloat32).item<float>();
      parts.push_back(torch::linspace(s0, s0 + duration, samples, torch::kFloat64));
    }
    const at::Tensor clock = torch::cat(parts);
    at::Tensor up = a.index({torch::tensor({2, 0})}).unsqueeze(1) + b.index({torch::tensor({2, 0})}).unsqueeze(1) * clock;
    up = up / up.std(1, false, true) * 2.0;
    return up.reshape({2, reps, -1}).permute({1, 0, 2});
  };
  const auto& r = d.responses.at(g);
  const at::Tensor chirp_trials = r.test_by_trial.at("chirp");
  ASSERT_EQ(chirp_trials.sizes(), (at::IntArrayRef{5, 2, 990}));
  const at::Tensor ec = expected(chirp_triggers[2].slice(0, 0, 10, 2), 990, 32.98999999, 5);
  EXPECT_TRUE(chirp_trials.to(torch::kFloat64).allclose(ec, 1e-4, 1e-4)) << (chirp_trials - ec).abs().max();
  EXPECT_TRUE(r.test.at("chirp").to(torch::kFloat64).allclose(ec.mean(0), 1e-4, 1e-4));
  const at::Tensor mb_trials = r.test_by_trial.at("moving_bar");
  ASSERT_EQ(mb_trials.sizes(), (at::IntArrayRef{3, 2, 984}));
  const at::Tensor em = expected(mb_triggers[2], 123, 4.054001, 3);
  EXPECT_TRUE(mb_trials.to(torch::kFloat64).allclose(em, 1e-4, 1e-4)) << (mb_trials - em).abs().max();
  // One repetition of each stimulus, mirrored for the left eye.
  EXPECT_TRUE(d.movies.at(g).test.at("chirp").equal(
      data::load_artificial_stimulus(chirp, data::ArtificialStimulus::chirp).flip(3)));
  EXPECT_EQ(d.movies.at(g).test.at("moving_bar").size(1), 984);

  // Without roi_ids in the dataset the ROIs cannot be matched: a one-line error naming the file.
  d.responses[g].info.erase("roi_ids");
  const std::string e = error_of([&] { data::add_hoefling_artificial_stimuli(d, o); });
  EXPECT_NE(e.find(o.responses_path + ": /" + g + "/roi_ids is missing"), std::string::npos) << e;
}

}  // namespace
