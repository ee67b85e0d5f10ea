// The Höfling 2024 layout (data.layout: hoefling_2024) on small files written
// in the published layout: the quality filters with their thresholds, the
// resampling of each ROI to the 30 Hz movie clock, normalisation by the std,
// the fixed test/train presentation layout, the per-session presentation
// sequence, the left-eye flip (and the one mislabelled field), the fixed
// validation clips; every expected value is computed here from the
// document's description (openretina-datasets.md §1), not by the reader.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "fovea/data/hoefling_dataset.h"
#include "fovea/error.h"
#include "data/hoefling_fixture.h"
#include "test_util.h"

namespace {

using namespace fovea::test::hoefling;
namespace data = fovea::data;

// make_final_responses for one field, written from the document: (train
// (N, 16200), test (N, 750), by_trial (3, N, 750)) in float64.
struct Expected {
  at::Tensor train, test, by_trial;
};
Expected expected_responses(const HoeflingField& f, const std::vector<int64_t>& kept) {
  const int64_t n = static_cast<int64_t>(kept.size()), frames = kTriggers * kL;
  at::Tensor up = torch::empty({n, frames}, torch::kFloat64);
  const at::Tensor trig = f.triggers[kept[0]].to(torch::kFloat64);  // row 0 after filtering
  for (int64_t r = 0; r < n; ++r) {
    const int64_t roi = kept[r];
    std::vector<double> xp(kScanSamples), fp(kScanSamples);
    for (int64_t j = 0; j < kScanSamples; ++j) {
      xp[j] = f.times.defined() ? f.times[roi][j].item<double>()
                                : j * f.dt[roi].item<double>() + f.t0[roi].item<double>();
      fp[j] = f.spikes[roi][j].item<double>();
    }
    at::Tensor row = up[r];
    auto acc = row.accessor<double, 1>();
    int64_t j = 0;
    for (int64_t k = 0; k < kTriggers; ++k)
      for (int64_t i = 0; i < kL; ++i) {
        const double x = trig[k].item<double>() + 4.9666667 * static_cast<double>(i) / 149.0;
        // The clock may step back between clips (trigger jitter): search both ways.
        while (j > 0 && xp[j] > x) --j;
        while (j + 1 < kScanSamples && xp[j + 1] <= x) ++j;
        acc[k * kL + i] = fp[j] + (fp[j + 1] - fp[j]) * (x - xp[j]) / (xp[j + 1] - xp[j]);
      }
    double mean = 0, var = 0;
    for (int64_t t = 0; t < frames; ++t) mean += acc[t];
    mean /= frames;
    for (int64_t t = 0; t < frames; ++t) var += (acc[t] - mean) * (acc[t] - mean);
    up[r] /= std::sqrt(var / frames);
  }
  Expected e;
  e.by_trial = torch::stack({up.narrow(1, 0, 750), up.narrow(1, 8850, 750), up.narrow(1, 17700, 750)});
  e.test = (e.by_trial[0] + e.by_trial[1] + e.by_trial[2]) / 3;
  e.train = torch::cat({up.narrow(1, 750, 8100), up.narrow(1, 9600, 8100)}, 1);
  return e;
}

void expect_close(const at::Tensor& actual, const at::Tensor& expected, const std::string& what) {
  ASSERT_EQ(actual.sizes(), expected.sizes()) << what;
  EXPECT_EQ(actual.scalar_type(), torch::kFloat32) << what;
  const double err = (actual.to(torch::kFloat64) - expected).abs().max().item<double>();
  EXPECT_LT(err, 1e-5 * std::max(1.0, expected.abs().max().item<double>())) << what;
}

using fovea::test::error_of;

TEST(HoeflingDataset, FiltersResamplesAndSplitsResponsesAsOpenretina) {
  Fixture fx;
  const data::RetinaDataset d = data::load_hoefling_2024(fx.options());
  EXPECT_EQ(d.sessions(), (std::vector<std::string>{kA, kB, kC}));  // kD: no ROI passes
  EXPECT_EQ(fx.kept(kA), (std::vector<int64_t>{0, 2, 4, 6}));      // the thresholds are inclusive
  for (const char* key : {kA, kB, kC}) {
    SCOPED_TRACE(key);
    const auto kept = fx.kept(key);
    const auto& r = d.responses.at(key);
    const Expected e = expected_responses(fx.fields.at(key), kept);
    expect_close(r.train, e.train, "train");
    expect_close(r.test.at("test"), e.test, "test");
    expect_close(r.test_by_trial.at("test"), e.by_trial, "test_by_trial");
    const at::Tensor ids = torch::tensor(kept, torch::kInt64);
    EXPECT_TRUE(torch::equal(r.info.at("group_assignment"),
                             fx.fields.at(key).group_assignment.to(torch::kInt64).index_select(0, ids)));
    EXPECT_TRUE(torch::equal(r.info.at("roi_ids"), fx.fields.at(key).roi_ids.to(torch::kInt64).index_select(0, ids)));
  }
  // Each ROI has unit std (ddof 0) over the 18450 resampled frames.
  const auto& a = d.responses.at(kA);
  const at::Tensor all = torch::cat({a.train, a.test_by_trial.at("test").permute({1, 0, 2}).reshape({4, -1})}, 1);
  EXPECT_TRUE(torch::allclose(all.to(torch::kFloat64).std(1, false), torch::ones({4}, torch::kFloat64), 1e-5, 1e-5));
}

TEST(HoeflingDataset, MoviesFollowEachSessionsSequenceAndEye) {
  Fixture fx;
  const data::RetinaDataset d = data::load_hoefling_2024(fx.options());
  EXPECT_TRUE(torch::equal(d.movies.at(kA).train, fx.presented(2)));
  EXPECT_TRUE(torch::equal(d.movies.at(kA).test.at("test"), fx.test_movie));
  // Labelled left in the file, mislabelled: read as a right eye.
  EXPECT_TRUE(torch::equal(d.movies.at(kB).train, fx.presented(0)));
  EXPECT_TRUE(torch::equal(d.movies.at(kB).test.at("test"), fx.test_movie));
  // A left eye: the movies mirrored along W.
  EXPECT_TRUE(torch::equal(d.movies.at(kC).train, fx.presented(1).flip(3)));
  EXPECT_TRUE(torch::equal(d.movies.at(kC).test.at("test"), fx.test_movie.flip(3)));
  EXPECT_EQ(d.responses.at(kC).info.at("eye_is_left").item<int64_t>(), 1);
  EXPECT_EQ(d.responses.at(kB).info.at("eye_is_left").item<int64_t>(), 0);
  EXPECT_EQ(d.responses.at(kC).info.at("scan_sequence_idx").item<int64_t>(), 1);
  // Validation clips: the presentation slot of each canonical clip, in the listed order.
  for (const auto& [key, s] : std::map<std::string, int64_t>{{kA, 2}, {kB, 0}, {kC, 1}}) {
    std::vector<int64_t> slots;
    for (int64_t c : kValClips)
      for (int64_t i = 0; i < kClips; ++i)
        if (fx.sequences[i][s].item<int64_t>() == c) slots.push_back(i);
    EXPECT_EQ(d.val_clip_indices.at(key), slots) << key;
  }
}

TEST(HoeflingDataset, QualityCheckOptions) {
  Fixture fx;
  auto count = [&](const data::HoeflingOptions& o) {
    std::map<std::string, int64_t> n;
    for (const auto& [k, r] : data::load_hoefling_2024(o).responses) n[k] = r.train.size(0);
    return n;
  };
  data::HoeflingOptions o = fx.options();
  o.quality.classifier_confidence = 0;  // off: ROI 5 of A (confidence 0.2) stays
  EXPECT_EQ(count(o).at(kA), 5);
  o = fx.options();
  o.quality.qi_logic = "and";  // both QIs: only C's second ROI
  EXPECT_EQ(count(o), (std::map<std::string, int64_t>{{kC, 1}}));
  o = fx.options();
  o.quality.filter_counts = true;  // fields with more than 3 ROIs: A's 4
  o.quality.count_threshold = 3;
  EXPECT_EQ(count(o), (std::map<std::string, int64_t>{{kA, 4}}));
  o = fx.options();
  o.quality.filter_cell_types = false;  // A's ROIs of groups 33 and 46 pass the other checks
  EXPECT_EQ(count(o).at(kA), 6);
  o = fx.options();
  o.quality.d_qi = 2.0;  // the direction QI passes nobody: only chirp_qi ≥ 0.35 counts
  EXPECT_EQ(count(o), (std::map<std::string, int64_t>{{kA, 2}, {kB, 1}, {kC, 1}}));
}

// Bad files: one line naming the file and the field.
void expect_error(Fixture& fx, const std::string& file, const std::vector<std::string>& parts) {
  const std::string e = error_of([&] { data::load_hoefling_2024(fx.options()); });
  EXPECT_EQ(e.rfind(file, 0), 0u) << e;
  EXPECT_EQ(e.find('\n'), std::string::npos) << e;
  for (const auto& p : parts) EXPECT_NE(e.find(p), std::string::npos) << "'" << p << "' not in: " << e;
}

TEST(HoeflingDataset, BadMoviePickleIsOneLineNamingFileAndKey) {
  {
    Fixture fx;
    NumpyPickle p;
    p.add_array("train", fx.train_movie, "f4");
    p.add_array("test", fx.test_movie, "f4");
    fx.write(p, false);
    expect_error(fx, fx.movies_path, {"'random_sequences'", "missing"});
  }
  {
    Fixture fx;
    NumpyPickle p;
    p.add_array("train", fx.train_movie.narrow(1, 0, 16000).contiguous(), "f4");
    p.add_array("test", fx.test_movie, "f4");
    p.add_array("random_sequences", fx.sequences.to(torch::kUInt8), "u1");
    fx.write(p, false);
    expect_error(fx, fx.movies_path, {"'train'", "16000", "16200"});
  }
  {
    Fixture fx;
    NumpyPickle p;
    p.add_array("train", fx.train_movie, "f4");
    p.add_array("test", fx.test_movie, "f4");
    p.add_array("random_sequences", fx.sequences.to(torch::kFloat64), "f8");
    fx.write(p, false);
    expect_error(fx, fx.movies_path, {"'random_sequences'", "integer"});
  }
  {
    Fixture fx;
    NumpyPickle p;
    p.add_array("train", fx.train_movie, "f4");
    p.add_array("test", fx.test_movie, "f4");
    at::Tensor seq = fx.sequences.clone();
    seq[0][1] = seq[1][1];  // a clip shown twice
    p.add_array("random_sequences", seq.to(torch::kUInt8), "u1");
    fx.write(p, false);
    expect_error(fx, fx.movies_path, {"column 1", "'random_sequences'"});
  }
}

TEST(HoeflingDataset, BadResponsesAreOneLineNamingFileAndField) {
  const std::string a = std::string("/") + kA;
  {
    Fixture fx;
    fx.fields[kA].d_qi = at::Tensor();
    fx.write();
    expect_error(fx, fx.responses_path, {a + "/d_qi", "missing"});
  }
  {
    Fixture fx;
    fx.fields[kA].triggers = fx.fields[kA].triggers.narrow(1, 0, 120).contiguous();
    fx.write();
    expect_error(fx, fx.responses_path, {a + "/natural_trigger_times", "120", "123"});
  }
  {
    Fixture fx;  // the scan ends long before the last clip
    auto& f = fx.fields[kC];
    f.spikes = f.spikes.narrow(1, 0, 3000).contiguous();
    f.times = f.times.narrow(1, 0, 3000).contiguous();
    fx.write();
    expect_error(fx, fx.responses_path, {std::string("/") + kC, "shorter than the stimulus"});
  }
  {
    Fixture fx;
    fx.fields[kA].spikes = fx.fields[kA].spikes.narrow(0, 0, 5).contiguous();
    fx.write();
    expect_error(fx, fx.responses_path, {a + "/natural_inferred_spikes", "5 rows", "8 ROIs"});
  }
  {
    Fixture fx;
    fx.fields[kA].group_assignment = fx.fields[kA].group_assignment.to(torch::kFloat32);
    fx.write();
    expect_error(fx, fx.responses_path, {a + "/group_assignment", "integers"});
  }
  {
    Fixture fx;
    fx.fields[kB].write_eye = false;
    fx.write();
    expect_error(fx, fx.responses_path, {std::string("/") + kB, "'eye'", "missing"});
  }
  {
    Fixture fx;
    fx.fields[kB].eye = "both";
    fx.write();
    expect_error(fx, fx.responses_path, {std::string("/") + kB, "'eye'", "'both'"});
  }
  {
    Fixture fx;
    fx.fields[kC].scan_sequence_idx = 5;  // the pickle has 3 sequences
    fx.write();
    expect_error(fx, fx.responses_path, {std::string("/") + kC, "scan_sequence_idx", "5", "3 sequences"});
  }
  {
    Fixture fx;  // a kept ROI whose traces are NaN
    fx.fields[kA].spikes[2].fill_(std::nan(""));
    fx.write();
    expect_error(fx, fx.responses_path, {a, "1 of 4 ROIs", "NaN"});
  }
  {
    Fixture fx;
    fx.fields[kA].times[0][100] = fx.fields[kA].times[0][99];
    fx.write();
    expect_error(fx, fx.responses_path, {a + "/natural_traces_times", "not increasing"});
  }
}

}  // namespace
