// openretina's create-data: random stimuli and simple patch-summing neurons.
#include "fovea/data/create_data.h"

#include <torch/torch.h>

#include <filesystem>

#include "fovea/error.h"
#include "fovea/io/atomic_file.h"
#include "fovea/io/hdf5.h"
#include "fovea/io/npy.h"

namespace fovea::data {

void create_data(const std::string& dir, const CreateDataOptions& o) {
  check(o.num_colors >= 1 && o.num_stimuli >= 1 && o.num_sessions >= 1 && o.clip_length >= 1, "create-data",
        "colours, stimuli, sessions and clip length must be positive");
  namespace fs = std::filesystem;
  io::make_directories((fs::path(dir) / "stimuli").string());
  auto gen = at::make_generator<at::CPUGeneratorImpl>(o.seed);
  std::vector<at::Tensor> stimuli;
  for (int64_t i = 0; i < o.num_stimuli; ++i) {
    stimuli.push_back(torch::randn({o.num_colors, (70 + i) * o.clip_length, o.height, o.width}, gen));
    io::write_npy((fs::path(dir) / "stimuli" / ("random_noise_" + std::to_string(i) + ".npy")).string(),
                  stimuli.back());
  }
  const int64_t box = 5;  // frames of the temporal box filter
  for (int64_t s = 0; s < o.num_sessions; ++s) {
    const int64_t n = torch::randint(10, 30, {1}, gen).item<int64_t>();
    std::vector<std::pair<std::string, at::Tensor>> datasets;
    // Each neuron: a patch of up to 4x4 pixels at a random position.
    auto y0 = torch::randint(0, std::max<int64_t>(1, o.height - 3), {n}, gen);
    auto x0 = torch::randint(0, std::max<int64_t>(1, o.width - 3), {n}, gen);
    auto gain = torch::rand({n}, gen) + 0.5, offset = torch::rand({n}, gen);
    for (int64_t i = 0; i < o.num_stimuli; ++i) {
      const auto& m = stimuli[i];  // (C, T, H, W)
      at::Tensor r = torch::empty({n, m.size(1)});
      for (int64_t k = 0; k < n; ++k) {
        const int64_t y = y0[k].item<int64_t>(), x = x0[k].item<int64_t>();
        at::Tensor patch = m.narrow(2, y, std::min<int64_t>(4, o.height - y)).narrow(3, x, std::min<int64_t>(4, o.width - x));
        at::Tensor drive = patch.sum({0, 2, 3});  // (T,)
        // Causal box filter: mean of the last `box` frames.
        at::Tensor padded = torch::cat({torch::zeros({box - 1}), drive});
        at::Tensor filtered = padded.unfold(0, box, 1).mean(1);
        r[k] = filtered * gain[k] + offset[k];
      }
      datasets.emplace_back("responses_random_noise_" + std::to_string(i), r);
    }
    datasets.emplace_back("session_info/celltypes", torch::randint(1, 33, {n}, gen));
    io::write_h5((fs::path(dir) / ("session_" + std::to_string(s) + ".h5")).string(), datasets);
  }
}

}  // namespace fovea::data
