#pragma once
// Readouts of the V1 models: minimodel's rank-1 readout (Wy ⊗ Wx ⊗ Wc) and the
// pixel ridge regression of the course tutorial.
#include "fovea/nn/model.h"

namespace fovea::nn {

// pred[i,n] = ELU(Σ_{c,y,x} Wc[n,c]·Wy[n,y]·F[i,c,y,x]·Wx[n,x] + b[n]) + 1 + 1e-12
// Parameters as minimodel: Wy (N,1,Ly), Wx (N,1,Lx), Wc (N,1,C), bias (N).
class Rank1Readout : public Readout {
 public:
  Rank1Readout(int64_t n_neurons, int64_t channels, int64_t Ly, int64_t Lx, double Wc_coef, bool bias);
  at::Tensor forward(const at::Tensor& features, const std::string& data_key) override;
  int64_t n_neurons(const std::string&) const override { return Wc.size(0); }
  // Hoyer-Square sparsity of each neuron's channel weights: (Σ|Wc|)² / ΣWc², shape (N,).
  at::Tensor hoyer_square() const;
  // Linear drive before the output nonlinearity, (batch, N).
  at::Tensor drive(const at::Tensor& features) const;
  // Clamps Wy and Wx to be non-negative (after every optimiser step in training).
  void clamp_spatial();

  at::Tensor Wy, Wx, Wc, bias;
};

// ŷ = ((x - x_mean) · weight) · y_std + y_mean on the flattened features,
// fitted in closed form by fit_ridge(). Buffers: weight (P,N), x_mean (P),
// y_mean (N), y_std (N).
class RidgeReadout : public Readout {
 public:
  RidgeReadout(int64_t n_features, int64_t n_neurons);
  at::Tensor forward(const at::Tensor& features, const std::string& data_key) override;
  int64_t n_neurons(const std::string&) const override { return weight.size(1); }
  at::Tensor weight, x_mean, y_mean, y_std;
};

// Fits a ridge model (core: block_average, readout: ridge) as the tutorial:
// pixels minus their mean, z-scored responses, A = (XᵀX + λI)⁻¹ XᵀY (float64).
// `images` (n,1,H,W), `responses` (n,N).
void fit_ridge(Model& model, const at::Tensor& images, const at::Tensor& responses, double lambda);

}  // namespace fovea::nn
