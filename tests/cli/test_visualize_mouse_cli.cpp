// `fovea visualize --mouse NAME --data DIR`: the page's evaluation reads
// minimodel's published files of the mouse by their names (as `fovea eval
// --mouse` does). A small simulated recording is copied under mouse FX10's
// names (nat60k_text16.mat with `img` as Ly x Lx x N in MATLAB's column-major
// order, FX10_nat60k_2023_05_16.npz), so the evaluation must equal the one on
// the generic folder.
#include <gtest/gtest.h>
#include <matio.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <vector>

#include "api/api_test_util.h"
#include "cli_runner.h"
#include "fovea/io/npy.h"

namespace {

using fovea::test::run_fovea;

// minimodel's image file: `img` (Ly, Lx, N) float32, column-major.
void write_image_mat(const std::string& path, const at::Tensor& images) {
  const at::Tensor nwh = images.to(torch::kFloat32).permute({0, 2, 1}).contiguous();  // column-major (Ly, Lx, N)
  std::vector<float> data(nwh.data_ptr<float>(), nwh.data_ptr<float>() + nwh.numel());
  mat_t* mat = Mat_CreateVer(path.c_str(), nullptr, MAT_FT_MAT5);
  ASSERT_NE(mat, nullptr);
  size_t dims[3] = {static_cast<size_t>(images.size(1)), static_cast<size_t>(images.size(2)),
                    static_cast<size_t>(images.size(0))};
  matvar_t* var = Mat_VarCreate("img", MAT_C_SINGLE, MAT_T_SINGLE, 3, dims, data.data(), 0);
  ASSERT_NE(var, nullptr);
  ASSERT_EQ(Mat_VarWrite(mat, var, MAT_COMPRESSION_NONE), 0);
  Mat_VarFree(var);
  Mat_Close(mat);
}

TEST(VisualizeMouse, ReadsThePublishedFilesOfTheMouseByName) {
  ASSERT_TRUE(std::filesystem::exists(FOVEA_BINARY)) << FOVEA_BINARY;
  fovea::test::TempDir dir;
  const std::string data = dir.file("data"), published = dir.file("published");
  auto r = run_fovea("simulate v1 " + data + " --neurons 4 --train-images 100 --test-images 10 --seed 2", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  std::filesystem::create_directories(published);
  write_image_mat(published + "/nat60k_text16.mat", fovea::io::read_npy(data + "/images.npy"));
  std::filesystem::copy_file(data + "/responses.npz", published + "/FX10_nat60k_2023_05_16.npz");

  std::ofstream(dir.file("tiny.yaml")) << fovea::test::tiny_v1_config(4, 8, 1, 3);
  r = run_fovea("train -q --threads 1 --config " + dir.file("tiny.yaml") + " data.images=" + data +
                    "/images.npy data.responses=" + data + "/responses.npz output.dir=" + dir.file("run"),
                dir);
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string model = dir.file("run/model.safetensors");

  // The generic folder without its ground truth (the published files have none): the same table expected.
  std::filesystem::remove(data + "/ground_truth.npz");
  r = run_fovea("eval --threads 1 --model " + model + " --data " + data + " -o " + dir.file("eval"), dir);
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string visualize = "visualize --threads 1 --no-weights --no-meis --model-path " + model;
  r = run_fovea(visualize + " --save-folder " + dir.file("page") + " --data " + published + " --mouse FX10", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string table = fovea::test::slurp(dir.file("page/evaluation/eval.csv"));
  EXPECT_EQ(fovea::test::line_count(table), 5);  // header + 4 neurons
  EXPECT_EQ(table, fovea::test::slurp(dir.file("eval/eval.csv")));
  EXPECT_TRUE(std::filesystem::exists(dir.file("page/evaluation/readout/neuron_3.jpg")));

  // An unknown mouse lists the known ones; --mouse needs --data; nothing is written.
  r = run_fovea(visualize + " --save-folder " + dir.file("bad") + " --data " + published + " --mouse FX11", dir);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("FX10"), std::string::npos) << r.err;
  EXPECT_EQ(fovea::test::line_count(r.err), 1) << r.err;
  r = run_fovea(visualize + " --save-folder " + dir.file("bad") + " --mouse FX10", dir);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("--mouse: names the mouse whose published files --data holds; give --data too"),
            std::string::npos)
      << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir.file("bad/index.html")));
}

}  // namespace
