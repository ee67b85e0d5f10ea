// The C++ listings in examples/ run as the reference's listings do: the quick
// start loads the golden openretina checkpoint and predicts; the custom-model
// listing composes user modules with built-in ones and saves a model that
// `fovea info` reads.
#include <gtest/gtest.h>

#include <filesystem>

#include "cli/cli_runner.h"

namespace {

fovea::test::CliResult run_example(const std::string& name, const std::string& args,
                                   const fovea::test::TempDir& dir) {
  const auto exe = std::filesystem::path(FOVEA_BINARY).parent_path() / "examples" / name;
  const std::string out = dir.file("ex_stdout.txt"), err = dir.file("ex_stderr.txt");
  const std::string cmd = exe.string() + " " + args + " >" + out + " 2>" + err;
  fovea::test::CliResult r;
  const int status = std::system(cmd.c_str());
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = fovea::test::slurp(out);
  r.err = fovea::test::slurp(err);
  return r;
}

}  // namespace

TEST(Examples, QuickstartRunsTheGoldenCheckpoint) {
  SKIP_WITHOUT_GOLDEN();
  fovea::test::TempDir dir;
  auto r = run_example("retina_quickstart", fovea::test::golden("openretina_core_readout/checkpoint.ckpt"), dir);
  ASSERT_EQ(r.code, 0) << r.err;
  // 50 frames in; the default architecture's temporal kernels (21 + 11) leave 20; 7 + 5 neurons.
  EXPECT_NE(r.out.find("responses [1, 20, 12]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("session session_a: 7 neurons"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("session session_b: 5 neurons"), std::string::npos) << r.out;
  auto bad = run_example("retina_quickstart", dir.file("missing.ckpt"), dir);
  EXPECT_EQ(bad.code, 1);
  EXPECT_EQ(fovea::test::line_count(bad.err), 1) << bad.err;
}

TEST(Examples, CustomModelListingComposesAndSaves) {
  fovea::test::TempDir dir;
  auto r = run_example("custom_model", dir.file("custom.safetensors"), dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("my_custom_core + my_custom_readout: responses [1, 50, 150]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("my_custom_core + gaussian_mask: responses [1, 50, 150]"), std::string::npos) << r.out;
  // The saved file names a core type that only the example registers: fovea
  // itself must refuse it with a clear message, not crash.
  auto info = fovea::test::run_fovea("info " + dir.file("custom.safetensors"), dir);
  EXPECT_EQ(info.code, 1);
  EXPECT_NE(info.err.find("unknown core type 'my_custom_core'"), std::string::npos) << info.err;
}
