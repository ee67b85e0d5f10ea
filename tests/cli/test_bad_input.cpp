// Bad input: one clear line on stderr naming the file and the problem, exit
// code 1, no crash and no output file.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <zip.h>

#include <filesystem>
#include <fstream>

#include "cli_runner.h"
#include "fovea/io/npy.h"

using fovea::test::run_fovea;

namespace {

class BadInput : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fovea::test::TempDir();
    auto r = run_fovea("simulate v1 " + dir_->file("data") +
                           " --neurons 4 --train-images 200 --test-images 10 --repeats 3 --height 20 --width 30",
                       *dir_);
    ASSERT_EQ(r.code, 0) << r.err;
  }
  static void TearDownTestSuite() { delete dir_; }

  // A copy of the simulated responses with one array replaced (or removed if undefined).
  std::string responses_with(const std::string& name, const std::string& key, const at::Tensor& value) {
    auto arrays = fovea::io::read_npz(dir_->file("data/responses.npz"));
    fovea::io::NpzArrays out;
    for (auto& [k, v] : arrays) {
      if (k != key) out.emplace_back(k, v);
      else if (value.defined()) out.emplace_back(k, value);
    }
    const std::string path = dir_->file(name);
    fovea::io::write_npz(path, out);
    return path;
  }

  // Runs a command that must fail: exit 1, one line naming `file`, and `output` absent.
  void expect_clean_failure(const std::string& args, const std::string& file, const std::string& output = "",
                            const std::string& phrase = "") {
    auto r = run_fovea(args, *dir_);
    EXPECT_EQ(r.code, 1) << args << "\n" << r.err;
    EXPECT_EQ(fovea::test::line_count(r.err), 1) << r.err;
    EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find(file), std::string::npos) << "message does not name " << file << ": " << r.err;
    if (!phrase.empty()) EXPECT_NE(r.err.find(phrase), std::string::npos) << r.err;
    if (!output.empty()) EXPECT_FALSE(std::filesystem::exists(output)) << output << " was written";
  }

  std::string train_args(const std::string& responses, const std::string& out) {
    return "train --config " + std::string(FOVEA_SOURCE_DIR) + "/configs/v1_ridge.yaml data.images=" +
           dir_->file("data/images.npy") + " data.responses=" + responses + " output.dir=" + out + " --quiet --threads 1";
  }

  static fovea::test::TempDir* dir_;
};
fovea::test::TempDir* BadInput::dir_ = nullptr;

TEST_F(BadInput, MissingFile) {
  const std::string missing = dir_->file("no_such_model.safetensors");
  expect_clean_failure("predict --model " + missing + " --input " + dir_->file("data/images.npy") + " -o " +
                           dir_->file("y.npy") + " --threads 1",
                       missing, dir_->file("y.npy"));
}

TEST_F(BadInput, MissingNpzKey) {
  auto path = responses_with("no_istim_ss.npz", "istim_ss", {});
  expect_clean_failure(train_args(path, dir_->file("out_key")), path, dir_->file("out_key/model.safetensors"),
                       "istim_ss");
}

TEST_F(BadInput, ImagesAndResponsesDisagreeInCount) {
  auto istim = fovea::io::read_npz_key(dir_->file("data/responses.npz"), "istim_sp").clone();
  istim[0] = 100000;  // more images than the file holds
  auto path = responses_with("bad_index.npz", "istim_sp", istim);
  expect_clean_failure(train_args(path, dir_->file("out_idx")), path, dir_->file("out_idx/model.safetensors"));
  auto sp = fovea::io::read_npz_key(dir_->file("data/responses.npz"), "sp");
  auto path2 = responses_with("short_sp.npz", "sp", sp.narrow(1, 0, sp.size(1) - 5).contiguous());
  expect_clean_failure(train_args(path2, dir_->file("out_sp")), path2, dir_->file("out_sp/model.safetensors"));
}

TEST_F(BadInput, NanResponses) {
  auto sp = fovea::io::read_npz_key(dir_->file("data/responses.npz"), "sp").clone();
  sp[1][7] = std::nan("");
  auto path = responses_with("nan.npz", "sp", sp);
  expect_clean_failure(train_args(path, dir_->file("out_nan")), path, dir_->file("out_nan/model.safetensors"), "NaN");
}

TEST_F(BadInput, TruncatedNpyAndWrongShape) {
  // A model to predict with.
  auto r = run_fovea(train_args(dir_->file("data/responses.npz"), dir_->file("model")), *dir_);
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string model = dir_->file("model/model.safetensors");

  std::ifstream in(dir_->file("data/images.npy"), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string truncated = dir_->file("truncated.npy");
  std::ofstream(truncated, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  expect_clean_failure("predict --model " + model + " --input " + truncated + " -o " + dir_->file("y1.npy"), truncated,
                       dir_->file("y1.npy"));

  const std::string wrong = dir_->file("wrong_shape.npy");
  fovea::io::write_npy(wrong, torch::zeros({5, 7, 9}));
  expect_clean_failure("predict --model " + model + " --input " + wrong + " -o " + dir_->file("y2.npy"), wrong,
                       dir_->file("y2.npy"), "shape");
}

TEST_F(BadInput, PtThatIsNotAStateDict) {
  // A genuine torch.save zip archive whose pickle is the list [1, 2].
  const std::string path = dir_->file("list.pt");
  int err = 0;
  zip_t* z = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
  ASSERT_NE(z, nullptr);
  static const char pickle[] = "\x80\x02]q\x00(K\x01K\x02e.";
  zip_source_t* src = zip_source_buffer(z, pickle, sizeof(pickle) - 1, 0);
  zip_file_add(z, "archive/data.pkl", src, ZIP_FL_OVERWRITE);
  static const char version[] = "3\n";
  zip_file_add(z, "archive/version", zip_source_buffer(z, version, 2, 0), ZIP_FL_OVERWRITE);
  ASSERT_EQ(zip_close(z), 0);
  expect_clean_failure("import " + path + " -o " + dir_->file("imported.safetensors"), path,
                       dir_->file("imported.safetensors"), "state dict");
  // Random bytes are not an archive at all.
  const std::string junk = dir_->file("junk.pt");
  std::ofstream(junk, std::ios::binary) << "this is not a zip file";
  expect_clean_failure("import " + junk + " -o " + dir_->file("imported2.safetensors"), junk,
                       dir_->file("imported2.safetensors"));
}

TEST_F(BadInput, UsageErrorsExitWithTwo) {
  auto r = run_fovea("train", *dir_);
  EXPECT_EQ(r.code, 2);
  auto r2 = run_fovea("no-such-command", *dir_);
  EXPECT_EQ(r2.code, 2);
}

}  // namespace
