// `fovea eval` as openretina's: data_split train | validation | test | a
// stimulus name, per-trial columns, EvaluationSummary fields and the dataset
// statistics, checked against computations written out here.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "fovea/api/evaluate.h"
#include "fovea/data/simulate_retina.h"
#include "fovea/train/retina_experiment.h"
#include "test_util.h"
#include "tiny_retina_config.h"

namespace {

using fovea::test::error_of;
using fovea::test::TempDir;
using Json = nlohmann::json;
namespace train = fovea::train;

constexpr int64_t kClip = 60, kTrainFrames = 1200, kValClips = 4, kTestFrames = 90, kRepeats = 3;

struct Fixture {
  TempDir tmp;
  std::string dir = tmp.file("data");
  std::shared_ptr<fovea::nn::Model> model;
  std::map<std::string, fovea::data::SessionClips> sessions;

  Fixture() {
    fovea::data::SimulateRetinaOptions o;
    o.n_sessions = 2;
    o.neurons_per_session = {6, 5};
    o.train_frames = kTrainFrames;
    o.test_frames = kTestFrames;
    o.n_repeats = kRepeats;
    o.seed = 4;
    fovea::data::simulate_retina(dir, o);
    Json c = fovea::test::tiny_retina_config(dir, 3, 7);
    c["training"]["max_epochs"] = 2;
    c["training"]["lr"] = 0.03;
    c["seed"] = 3;
    auto options = train::retina_data_options(c["data"]);
    auto dataset = train::load_retina_data(options);
    model = train::train_retina(c, dataset, options, "", false).model;
    sessions = train::split_sessions(dataset, options.split);  // the clips training used (split_seed 7)
  }

  fovea::api::EvaluateResult evaluate(const std::string& split, bool statistics = false, double cutoff = -1) {
    fovea::api::EvaluateOptions o;
    o.data.dir = dir;
    o.data_split = split;
    o.dataset_statistics = statistics;
    o.threshold = cutoff;
    o.output = "";
    return fovea::api::evaluate(*model, o);
  }

  // The model run on each clip of `movie` alone; the first `lag` frames of
  // each clip have no prediction. Returns (predictions, responses) (frames, N).
  std::pair<at::Tensor, at::Tensor> run_clips(const at::Tensor& movie, const at::Tensor& responses,
                                              const std::string& key, int64_t clip) {
    torch::NoGradGuard no_grad;
    std::vector<at::Tensor> p, y;
    for (int64_t s = 0; s + clip <= movie.size(1); s += clip) {
      at::Tensor out = model->forward(movie.slice(1, s, s + clip).unsqueeze(0), key).squeeze(0);
      p.push_back(out.to(torch::kFloat64));
      y.push_back(responses.slice(0, s + clip - out.size(0), s + clip).to(torch::kFloat64));
    }
    return {torch::cat(p), torch::cat(y)};
  }
};

at::Tensor pearson(const at::Tensor& a, const at::Tensor& b) {
  const at::Tensor x = a - a.mean(0), y = b - b.mean(0);
  return (x * y).sum(0) / (x.pow(2).sum(0) * y.pow(2).sum(0)).sqrt();
}

// The report's column for one session's rows.
at::Tensor rows_of(const fovea::eval::EvaluationReport& r, const std::string& column, const std::string& session) {
  std::vector<int64_t> rows;
  for (size_t i = 0; i < r.row_session.size(); ++i)
    if (r.row_session[i] == session) rows.push_back(static_cast<int64_t>(i));
  return r.column(column).index_select(0, torch::tensor(rows));
}

void expect_close(const at::Tensor& a, const at::Tensor& b, const std::string& what) {
  EXPECT_TRUE(torch::allclose(a, b, 1e-5, 1e-6)) << what << "\n" << a << "\n" << b;
}

TEST(EvalSplit, TrainAndValidationRunClipByClipWithPoissonMseAndCorrelationToTheResponses) {
  Fixture fx;
  for (const std::string split : {"validation", "train"}) {
    const auto r = fx.evaluate(split);
    const auto& rep = r.report;
    EXPECT_EQ(rep.summary["data_split"], split);
    EXPECT_EQ(rep.summary["temporal_lag"], 10);  // temporal kernel 11
    EXPECT_EQ(rep.summary["filtering_applied"], false);
    EXPECT_EQ(rep.summary["n_neurons_filtered"], 11);
    EXPECT_EQ(rep.summary["n_test_repeats_max"], 1);
    const int64_t clips = split == "train" ? kTrainFrames / kClip - kValClips : kValClips;
    for (const auto& [key, s] : fx.sessions) {
      EXPECT_EQ(rep.summary["n_frames_per_session"][key], clips * (kClip - 10)) << split;
      auto [p, y] = split == "train" ? fx.run_clips(s.train_movie, s.train_responses, key, kClip)
                                     : fx.run_clips(s.val_movie, s.val_responses, key, kClip);
      expect_close(rows_of(rep, "corr_to_average", key), pearson(p, y), split + " correlation");
      expect_close(rows_of(rep, "corr_0", key), pearson(p, y), split + " corr_0");
      expect_close(rows_of(rep, "mse_to_average", key), (y - p).pow(2).mean(0), split + " MSE");
      expect_close(rows_of(rep, "mse_0", key), (y - p).pow(2).mean(0), split + " mse_0");
      expect_close(rows_of(rep, "poisson_loss_to_average", key), (p - y * (p + 1e-16).log()).mean(0),
                   split + " Poisson");
      // One trial: no noise ceiling; the cells are empty.
      EXPECT_TRUE(torch::isnan(rows_of(rep, "feve_openretina", key)).all().item<bool>());
      EXPECT_TRUE(torch::isnan(rows_of(rep, "oracle_jackknife", key)).all().item<bool>());
    }
    EXPECT_TRUE(rep.summary["feve_mean"].is_null() || std::isnan(rep.summary["feve_mean"].get<double>()));
    EXPECT_NEAR(rep.summary["corr_to_avg_mean"].get<double>(), rep.column("corr_to_average").mean().item<double>(),
                1e-9);
  }
}

TEST(EvalSplit, TestSplitHasOpenretinasPerTrialColumnsAndSummary) {
  Fixture fx;
  const auto r = fx.evaluate("test", false, 0.0);  // cutoff 0: every neuron in the summary
  const auto& rep = r.report;
  std::vector<double> corr_means(kRepeats, 0.0), mse_means(kRepeats, 0.0);
  for (const auto& [key, s] : fx.sessions) {
    auto [p, avg] = fx.run_clips(s.test_movies.at("test"), s.test_responses.at("test"), key, kTestFrames);
    const at::Tensor trials = s.test_by_trial.at("test");  // (trials, T, N)
    ASSERT_EQ(trials.size(0), kRepeats);
    at::Tensor per_trial_sum = torch::zeros({p.size(1)}, torch::kFloat64);
    for (int64_t i = 0; i < kRepeats; ++i) {
      const at::Tensor y = trials[i].slice(0, kTestFrames - p.size(0)).to(torch::kFloat64);
      expect_close(rows_of(rep, "corr_" + std::to_string(i), key), pearson(p, y), "corr_i");
      expect_close(rows_of(rep, "mse_" + std::to_string(i), key), (y - p).pow(2).mean(0), "mse_i");
      corr_means[i] += pearson(p, y).sum().item<double>() / 11.0;
      mse_means[i] += (y - p).pow(2).mean(0).sum().item<double>() / 11.0;
      per_trial_sum += pearson(p, y);
    }
    expect_close(rows_of(rep, "per_trial_corr", key), per_trial_sum / double(kRepeats), "per_trial_corr");
    expect_close(rows_of(rep, "mse_to_average", key), (avg - p).pow(2).mean(0), "MSE to the average");
  }
  // openretina: mean and (ddof 0) std over trials of each trial's neuron mean
  // (its correlation adds 1e-8 to the standard deviations: 1e-6 apart).
  const at::Tensor c = torch::tensor(corr_means, torch::kFloat64), m = torch::tensor(mse_means, torch::kFloat64);
  EXPECT_NEAR(rep.summary["corr_by_trial_mean"].get<double>(), c.mean().item<double>(), 1e-6);
  EXPECT_NEAR(rep.summary["corr_by_trial_std"].get<double>(), c.std(false).item<double>(), 1e-6);
  EXPECT_NEAR(rep.summary["mse_by_trial_mean"].get<double>(), m.mean().item<double>(), 1e-9);
  EXPECT_NEAR(rep.summary["mse_by_trial_std"].get<double>(), m.std(false).item<double>(), 1e-9);
  EXPECT_EQ(rep.summary["n_test_repeats_min"], kRepeats);
  EXPECT_EQ(rep.summary["filtering_applied"], true);
  EXPECT_NEAR(rep.summary["fev_mean"].get<double>(), rep.column("var_ratio").mean().item<double>(), 1e-9);

  // data_split may name the test stimulus, as openretina's; anything else is an error.
  const auto by_name = fx.evaluate("test").report;
  EXPECT_TRUE(torch::equal(by_name.column("corr_1"), rep.column("corr_1")));
  const std::string e = error_of([&] { fx.evaluate("holdout"); });
  EXPECT_NE(e.find("--data-split"), std::string::npos) << e;
  EXPECT_NE(e.find("'holdout'"), std::string::npos) << e;
}

TEST(EvalSplit, DatasetStatisticsCountUniqueFramesAndTransitionsPerSplit) {
  Fixture fx;
  const auto s = fx.evaluate("test", true).report.summary;
  // Noise movies: every frame is distinct. Both sessions see the same movie
  // and the same validation clips (one split seed), so the union is one session's.
  const int64_t val = kValClips * kClip, train_frames = kTrainFrames - val;
  EXPECT_EQ(s["n_sessions"], 2);
  EXPECT_EQ(s["unique_train_frames"], train_frames);
  EXPECT_EQ(s["unique_train_transitions"], train_frames - 1);
  EXPECT_EQ(s["unique_val_frames"], val);
  EXPECT_EQ(s["unique_val_transitions"], kValClips * (kClip - 1));  // within clips only
  EXPECT_EQ(s["unique_train_val_frames"], kTrainFrames);
  EXPECT_EQ(s["unique_test_frames"], Json({{"test", kTestFrames}}));
  EXPECT_EQ(s["unique_test_transitions"], Json({{"test", kTestFrames - 1}}));
  // Without the option they are not computed (openretina leaves them 0).
  EXPECT_FALSE(fx.evaluate("test").report.summary.contains("unique_train_frames"));
}

}  // namespace
