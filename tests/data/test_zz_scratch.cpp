#include <gtest/gtest.h>
#include <torch/torch.h>
#include <chrono>
#include <iostream>
#include "data/natural_images.h"
#include "fovea/data/simulate_v1.h"
#include "fovea/eval/metrics.h"
#include "fovea/io/npy.h"
#include "temp_dir.h"
using clk = std::chrono::steady_clock;
double since(clk::time_point t) { return std::chrono::duration<double>(clk::now() - t).count(); }
TEST(Scratch, Stats) {
  at::set_num_threads(2);
  auto t = clk::now();
  auto img0 = fovea::data::natural_like_images(4100, 66, 130, 0);
  std::cout << "images " << since(t) << "\n"; t = clk::now();
  fovea::testing::TempDir dir{"fovea_scratch"};
  fovea::data::SimulateV1Options o;
  auto s = fovea::data::simulate_v1(dir.path(), o);
  std::cout << "default simulate: " << since(t) << " s, mean fev " << s.mean_fev << "\n";
  std::cout << "fev sorted: " << std::get<0>(s.fev.sort()).slice(0,0,60,6) << "\n";
  std::map<std::string, at::Tensor> r, g;
  for (auto& [k, t] : fovea::io::read_npz(dir.file("responses.npz"))) r[k] = t;
  for (auto& [k, t] : fovea::io::read_npz(dir.file("ground_truth.npz"))) g[k] = t;
  auto avg = r["ss_all"].to(at::kDouble).mean(1);
  auto corr = fovea::eval::correlation(avg, g["test_rates"].to(at::kDouble));
  std::cout << "corr avg-truth sorted: " << std::get<0>(corr.sort()).slice(0,0,60,10) << "\n";
  std::cout << "zeros frac sp " << (r["sp"] == 0).to(at::kDouble).mean().item<double>() << "\n";
  std::cout << "event_scale " << g["event_scale"].slice(0,0,10) << "\n";
  auto sp = r["sp"];
  std::cout << "sp quantiles: " << at::quantile(sp.flatten().to(at::kDouble), at::tensor({0.5,0.75,0.9,0.99,1.0}, at::kDouble)) << "\n";
  auto img = fovea::io::read_npy(dir.file("images.npy"));
  std::cout << "img range " << img.min().item<float>() << " " << img.max().item<float>() << "\n";
  fovea::io::write_npy("/tmp/sim_images.npy", img.slice(0,0,8).contiguous());
  fovea::io::write_npy("/tmp/sim_rf.npy", g["rf_even"].slice(0,0,8).contiguous());
}
