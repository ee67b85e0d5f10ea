// The rank-1 readout of minimodel and the tutorial's ridge regression.
#include "fovea/nn/v1_readouts.h"

#include <torch/torch.h>

#include "fovea/error.h"
#include "fovea/nn/kernels/gemm.h"

namespace fovea::nn {

Rank1Readout::Rank1Readout(int64_t n_neurons, int64_t channels, int64_t Ly, int64_t Lx, double Wc_coef,
                           bool with_bias) {
  Wy = register_parameter("Wy", 0.01 * torch::randn({n_neurons, 1, Ly}));
  Wx = register_parameter("Wx", 0.01 * torch::randn({n_neurons, 1, Lx}));
  Wc = register_parameter("Wc", Wc_coef * torch::randn({n_neurons, 1, channels}));
  if (with_bias) bias = register_parameter("bias", torch::zeros({n_neurons}));
}

at::Tensor Rank1Readout::drive(const at::Tensor& features) const {
  TORCH_CHECK(features.dim() == 4 && features.size(1) == Wc.size(2) && features.size(2) == Wy.size(2) &&
                  features.size(3) == Wx.size(2),
              "the readout expects core features of shape (batch, ", Wc.size(2), ", ", Wy.size(2), ", ",
              Wx.size(2), "), got ", features.sizes(), " (is the input image the size the model was built for?)");
  const int64_t B = features.size(0), C = features.size(1), Ly = features.size(2), Lx = features.size(3);
  const int64_t N = Wc.size(0);
  // Contraction order matters: (Wc ⊗ Wy) first, then one GEMM over (c, y),
  // then Wx. Contracting c or x first would build a (B, N, ...) intermediate
  // of many GB for thousands of neurons.
  at::Tensor cy = (Wc.view({N, C, 1}) * Wy.view({N, 1, Ly})).reshape({N, C * Ly});
  at::Tensor f = features.permute({1, 2, 0, 3}).reshape({C * Ly, B * Lx});
  at::Tensor g = matmul_2d(cy, f).view({N, B, Lx});  // the bulk of the work: oneDNN's sgemm with the fast kernels
  at::Tensor out = (g * Wx.view({N, 1, Lx})).sum(-1).t();  // (B, N)
  if (bias.defined()) out = out + bias;
  return out;
}

at::Tensor Rank1Readout::forward(const at::Tensor& features, const std::string&) {
  return torch::elu(drive(features)) + 1.0 + 1e-12;
}

at::Tensor Rank1Readout::hoyer_square() const {
  at::Tensor w = Wc.view({Wc.size(0), -1});
  return w.abs().sum(1).pow(2) / w.pow(2).sum(1);
}

void Rank1Readout::clamp_spatial() {
  torch::NoGradGuard no_grad;
  Wy.clamp_(0);
  Wx.clamp_(0);
}

RidgeReadout::RidgeReadout(int64_t n_features, int64_t n_neurons) {
  weight = register_buffer("weight", torch::zeros({n_features, n_neurons}));
  x_mean = register_buffer("x_mean", torch::zeros({n_features}));
  y_mean = register_buffer("y_mean", torch::zeros({n_neurons}));
  y_std = register_buffer("y_std", torch::ones({n_neurons}));
}

at::Tensor RidgeReadout::forward(const at::Tensor& features, const std::string&) {
  at::Tensor x = features.reshape({features.size(0), -1});
  TORCH_CHECK(x.size(1) == weight.size(0), "the ridge model expects ", weight.size(0),
              " input features per stimulus, got ", x.size(1));
  return (x - x_mean).mm(weight) * y_std + y_mean;
}

void fit_ridge(Model& model, const at::Tensor& images, const at::Tensor& responses, double lambda) {
  auto readout = std::dynamic_pointer_cast<RidgeReadout>(model.readout());
  if (!readout) fail("fit_ridge", "the model's readout is not a ridge readout");
  // The closed form solves a features x features system in float64.
  constexpr int64_t kMaxFeatures = 20000;  // a 3.2 GB system
  const int64_t features = readout->weight.size(0);
  if (features > kMaxFeatures)
    fail("ridge readout", "the core gives " + std::to_string(features) + " features per image and the closed-form fit "
                          "solves a " + std::to_string(features) + " x " + std::to_string(features) + " system (" +
                          std::to_string(features * features * 8 / 1000000000) + " GB); use a core with at most " +
                          std::to_string(kMaxFeatures) + " outputs, e.g. block_average with a larger factor");
  torch::NoGradGuard no_grad;
  at::Tensor x = model.core()->forward(images).reshape({images.size(0), -1}).to(torch::kFloat64);
  at::Tensor y = responses.to(torch::kFloat64);
  at::Tensor x_mean = x.mean(0);
  at::Tensor y_mean = y.mean(0), y_std = y.std(0, /*unbiased=*/false).clamp_min(1e-12);
  x = x - x_mean;
  y = (y - y_mean) / y_std;
  at::Tensor xtx = x.t().mm(x) + lambda * torch::eye(x.size(1), x.options());
  at::Tensor a = torch::linalg::solve(xtx, x.t().mm(y), /*left=*/true);
  readout->weight.copy_(a);
  readout->x_mean.copy_(x_mean);
  readout->y_mean.copy_(y_mean);
  readout->y_std.copy_(y_std);
}

}  // namespace fovea::nn
