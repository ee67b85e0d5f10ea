// The sweep's search space (train/sweep_space.h) and its trial claims
// (train/sweep_claim.h): grid order, seeded random draws inside their ranges
// and with the right distributions, the spec errors, and claims that one
// holder at a time gets and that pass to the next when the holder dies.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>

#include "fovea/train/sweep_claim.h"
#include "fovea/train/sweep_space.h"
#include "test_util.h"

using fovea::test::error_of;
using fovea::train::parse_search_axis;
using fovea::train::SearchAxis;
using Json = nlohmann::json;

namespace {

std::vector<SearchAxis> axes(const std::vector<std::string>& specs) {
  std::vector<SearchAxis> a;
  for (const auto& s : specs) a.push_back(parse_search_axis(s));
  return a;
}

int line_count(const std::string& path) {
  std::ifstream in(path);
  int n = 0;
  for (std::string line; std::getline(in, line);) n += !line.empty();
  return n;
}

}  // namespace

TEST(SweepSpace, ListsOfAnyValueTypeAndTheThreeDistributions) {
  const auto a = parse_search_axis("model.hidden_channels=[[8,8],[16,16],[32,32]]");
  EXPECT_EQ(a.key, "model.hidden_channels");
  EXPECT_EQ(a.kind, SearchAxis::Kind::choice);
  EXPECT_EQ(a.values, Json::parse("[[8,8],[16,16],[32,32]]"));
  const auto b = parse_search_axis("model.core.gamma_input=loguniform(1e-5, 1e-2)");
  EXPECT_EQ(b.kind, SearchAxis::Kind::loguniform);
  EXPECT_DOUBLE_EQ(b.low, 1e-5);
  EXPECT_DOUBLE_EQ(b.high, 1e-2);
  EXPECT_EQ(parse_search_axis("training.batch_size=int(16,64)").kind, SearchAxis::Kind::integer);
  EXPECT_EQ(parse_search_axis("training.lr=uniform(0.001,0.01)").kind, SearchAxis::Kind::uniform);
  EXPECT_EQ(parse_search_axis("training.loss=[poisson, mse]").values, Json::parse(R"(["poisson","mse"])"));
}

TEST(SweepSpace, MalformedSpecsNameTheParamAndTheProblem) {
  EXPECT_NE(error_of([] { parse_search_axis("training.lr"); }).find("expected key=[a,b,...]"), std::string::npos);
  EXPECT_NE(error_of([] { parse_search_axis("training.lr=[]"); }).find("--param 'training.lr=[]': the list of values is empty"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_search_axis("training.lr=0.01"); }).find("not a list or a distribution"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_search_axis("training.lr=normal(0,1)"); }).find("unknown distribution 'normal'"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_search_axis("training.lr=uniform(1)"); }).find("two numbers"), std::string::npos);
  EXPECT_NE(error_of([] { parse_search_axis("training.lr=uniform(0.1,0.01)"); }).find("low < high"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_search_axis("training.lr=loguniform(0,1)"); }).find("0 < a"), std::string::npos);
  EXPECT_NE(error_of([] { parse_search_axis("training.batch_size=int(1.5,4)"); }).find("two integers"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_search_axis("training.lr=[0.1"); }).find("invalid YAML"), std::string::npos);
}

TEST(SweepSpace, GridIsTheProductWithTheLastAxisFastest) {
  const auto trials = fovea::train::grid_trials(axes({"a=[1,2]", "b.c=[x,y,z]"}));
  ASSERT_EQ(trials.size(), 6u);
  const std::vector<std::pair<int, std::string>> expected = {{1, "x"}, {1, "y"}, {1, "z"}, {2, "x"}, {2, "y"}, {2, "z"}};
  for (size_t i = 0; i < 6; ++i) {
    ASSERT_EQ(trials[i].size(), 2u);
    EXPECT_EQ(trials[i][0].first, "a");
    EXPECT_EQ(trials[i][0].second, expected[i].first);
    EXPECT_EQ(trials[i][1].first, "b.c");
    EXPECT_EQ(trials[i][1].second, expected[i].second);
  }
  EXPECT_EQ(fovea::train::trial_overrides(trials[4]), (std::vector<std::string>{"a=2", "b.c=\"y\""}));
  EXPECT_NE(error_of([] { fovea::train::grid_trials(axes({"a=[1,2]", "b=uniform(0,1)"})); }).find("--search random"),
            std::string::npos);
}

TEST(SweepSpace, RandomTrialsDependOnlyOnSeedAndIndexAndStayInTheirRanges) {
  const auto space = axes({"g=loguniform(1e-5,1e-2)", "u=uniform(-1,3)", "n=int(1,3)", "h=[[8,8],[16,16]]"});
  constexpr int kTrials = 400;
  int below_geometric_mid = 0, below_mid = 0;
  std::set<int64_t> ints;
  std::set<std::string> choices;
  for (int i = 0; i < kTrials; ++i) {
    const auto t = fovea::train::random_trial(space, 42, i);
    EXPECT_EQ(t, fovea::train::random_trial(space, 42, i));  // the same on every call, in every process
    const double g = t[0].second.get<double>(), u = t[1].second.get<double>();
    ASSERT_TRUE(t[2].second.is_number_integer());
    const int64_t n = t[2].second.get<int64_t>();
    EXPECT_TRUE(g >= 1e-5 && g <= 1e-2) << g;
    EXPECT_TRUE(u >= -1 && u <= 3) << u;
    EXPECT_TRUE(n >= 1 && n <= 3) << n;
    below_geometric_mid += g < std::sqrt(1e-5 * 1e-2);
    below_mid += u < 1.0;
    ints.insert(n);
    choices.insert(t[3].second.dump());
  }
  // Log-uniform: half the draws below the geometric midpoint (a uniform draw
  // on [1e-5, 1e-2] would put 3% there); uniform: half below the midpoint.
  EXPECT_NEAR(below_geometric_mid / double(kTrials), 0.5, 0.1);
  EXPECT_NEAR(below_mid / double(kTrials), 0.5, 0.1);
  EXPECT_EQ(ints, (std::set<int64_t>{1, 2, 3}));  // both bounds included
  EXPECT_EQ(choices, (std::set<std::string>{"[8,8]", "[16,16]"}));
  EXPECT_NE(fovea::train::random_trial(space, 43, 0), fovea::train::random_trial(space, 42, 0));
  EXPECT_NE(fovea::train::random_trial(space, 42, 1), fovea::train::random_trial(space, 42, 0));
}

TEST(SweepClaim, OneHolderAtATimeAndTheNextTakesOverWhenItDies) {
  fovea::test::TempDir dir;
  const std::string trial = dir.file("trial_0000"), done = dir.file("trial_0000/result.json");
  {
    auto first = fovea::train::TrialClaim::acquire(trial, done);
    ASSERT_TRUE(first);
    EXPECT_EQ(first->attempts(), 1);
    EXPECT_FALSE(fovea::train::TrialClaim::acquire(trial, done));  // held (flock on another open file)
  }
  // A holder that dies without releasing: its lock goes with the process.
  const pid_t child = fork();
  if (child == 0) {
    auto c = fovea::train::TrialClaim::acquire(trial, done);
    _exit(c && c->attempts() == 2 ? 0 : 3);  // the claim object is never destroyed
  }
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  auto third = fovea::train::TrialClaim::acquire(trial, done);
  ASSERT_TRUE(third);
  EXPECT_EQ(third->attempts(), 3);
  EXPECT_NE(third->previous_holder().find(" " + std::to_string(child) + " "), std::string::npos)
      << third->previous_holder();
  EXPECT_EQ(line_count(trial + "/claim"), 3);
  third.reset();
  std::ofstream(done) << "{}";
  EXPECT_FALSE(fovea::train::TrialClaim::acquire(trial, done));  // finished
  EXPECT_EQ(line_count(trial + "/claim"), 3);
}

TEST(SweepClaim, RacingWorkersClaimEveryTrialExactlyOnce) {
  fovea::test::TempDir dir;
  constexpr int kTrials = 12, kWorkers = 4;
  std::vector<pid_t> children;
  for (int w = 0; w < kWorkers; ++w) {
    const pid_t pid = fork();
    if (pid == 0) {
      for (int i = 0; i < kTrials; ++i) {
        const std::string t = dir.file("trial_" + std::to_string(i));
        auto c = fovea::train::TrialClaim::acquire(t, t + "/result.json");
        if (!c) continue;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        std::ofstream(t + "/result.json") << "{}";
      }
      _exit(0);
    }
    children.push_back(pid);
  }
  for (pid_t c : children) waitpid(c, nullptr, 0);
  for (int i = 0; i < kTrials; ++i) {
    const std::string t = dir.file("trial_" + std::to_string(i));
    EXPECT_TRUE(std::filesystem::exists(t + "/result.json")) << t;
    EXPECT_EQ(line_count(t + "/claim"), 1) << t;
  }
}
