// openretina's GaussianMaskReadout and its multi-session container.
#include "fovea/nn/gaussian_mask_readout.h"

#include <torch/torch.h>

#include "fovea/error.h"
#include "json_fields.h"

namespace fovea::nn {

GaussianMaskReadoutOptions GaussianMaskReadoutOptions::from_json(const Json& spec) {
  GaussianMaskReadoutOptions o;
  o.scale = field<bool>(spec, "scale", o.scale);
  o.bias = field<bool>(spec, "bias", o.bias);
  o.gaussian_mean_scale = field<double>(spec, "gaussian_mean_scale", o.gaussian_mean_scale);
  o.gaussian_var_scale = field<double>(spec, "gaussian_var_scale", o.gaussian_var_scale);
  o.positive = field<bool>(spec, "positive", o.positive);
  o.mask_l1_reg = field<double>(spec, "mask_l1_reg", o.mask_l1_reg);
  o.feature_weights_l1_reg = field<double>(spec, "feature_weights_l1_reg", o.feature_weights_l1_reg);
  o.legacy_scale_name = field<bool>(spec, "legacy_scale_name", o.legacy_scale_name);
  return o;
}

Json GaussianMaskReadoutOptions::to_json() const {
  return Json{{"scale", scale},
              {"bias", bias},
              {"gaussian_mean_scale", gaussian_mean_scale},
              {"gaussian_var_scale", gaussian_var_scale},
              {"positive", positive},
              {"mask_l1_reg", mask_l1_reg},
              {"feature_weights_l1_reg", feature_weights_l1_reg},
              {"legacy_scale_name", legacy_scale_name}};
}

// ---- GaussianMaskReadout ----

GaussianMaskReadout::GaussianMaskReadout(const std::vector<int64_t>& in_shape, int64_t outdims,
                                         const GaussianMaskReadoutOptions& options, const at::Tensor& mean_activity)
    : in_shape_(in_shape), outdims_(outdims), options_(options) {
  check(in_shape.size() == 4, "GaussianMaskReadout",
        "in_shape must be (channels, time, height, width), got " + std::to_string(in_shape.size()) + " values");
  check(outdims > 0, "GaussianMaskReadout", "the number of neurons must be positive, got " + std::to_string(outdims));
  const int64_t c = in_shape[0], h = in_shape[2], w = in_shape[3];
  check(c > 0 && h > 0 && w > 0, "GaussianMaskReadout", "in_shape has a non-positive channel or spatial size");

  // openretina trains the log variance and maps it to a variance in get_mask().
  mask_mean = register_parameter("mask_mean", torch::zeros({outdims, 2}));
  mask_log_var = register_parameter("mask_log_var", torch::zeros({outdims}));
  // The grid is fixed, hence a buffer (it is in openretina's state dict too).
  grid = register_buffer("grid", make_mask_grid(outdims, h, w));
  features = register_parameter("features", torch::empty({1, c, 1, outdims}).normal_(1.0 / c, 0.01));
  // Without `scale`/`bias` openretina still keeps the tensors, as buffers, so
  // the state dict has the same keys either way.
  const char* scale_name = options.legacy_scale_name ? "scale" : "scale_param";
  if (options.scale)
    scale_param = register_parameter(scale_name, torch::empty({outdims}).normal_(1.0, 0.01));
  else
    scale_param = register_buffer(scale_name, torch::ones({outdims}));
  if (options.bias)
    bias = register_parameter("bias", torch::zeros({outdims}));
  else
    bias = register_buffer("bias", torch::zeros({outdims}));
  initialize_bias(mean_activity);
}

at::Tensor GaussianMaskReadout::make_mask_grid(int64_t outdims, int64_t h, int64_t w) {
  // openretina calls these (w, h) but passes (H', W'): the first grid
  // coordinate runs along the rows. Both span ±size/max so that a unit step
  // in either coordinate covers the same distance.
  const double m = static_cast<double>(std::max(h, w));
  at::Tensor rows = torch::linspace(-h / m, h / m, h);
  at::Tensor cols = torch::linspace(-w / m, w / m, w);
  auto mesh = torch::meshgrid({rows, cols}, "ij");
  at::Tensor g = torch::stack({mesh[0], mesh[1]}, 2).unsqueeze(0);  // (1, H', W', 2)
  return g.repeat({outdims, 1, 1, 1});
}

void GaussianMaskReadout::initialize_bias(const at::Tensor& mean_activity) {
  torch::NoGradGuard no_grad;
  if (!mean_activity.defined()) {
    bias.zero_();
    return;
  }
  check(mean_activity.numel() == outdims_, "GaussianMaskReadout",
        "mean_activity has " + std::to_string(mean_activity.numel()) + " values, the readout has " +
            std::to_string(outdims_) + " neurons");
  bias.copy_(mean_activity.reshape({outdims_}));
}

at::Tensor GaussianMaskReadout::get_mask() const {
  // The clamps keep exp() finite and the Gaussian from underflowing to exact
  // zeros far from the centre (exp(-10) at most), as openretina does.
  at::Tensor var = torch::exp(torch::clamp(mask_log_var * options_.gaussian_var_scale, -20, 20)).view({-1, 1, 1});
  at::Tensor d = grid - mask_mean.view({outdims_, 1, 1, 2}) * options_.gaussian_mean_scale;
  at::Tensor pdf = (d * d).sum(-1) / (var + 1e-8);
  pdf = torch::exp(-0.5 * torch::clamp_max(pdf, 20));
  // Normalised to sum 1 so the mask's width does not change the response gain.
  return torch::nan_to_num(pdf / pdf.sum({1, 2}, /*keepdim=*/true));
}

at::Tensor GaussianMaskReadout::forward(const at::Tensor& x, const std::string&) {
  const int64_t c = features.size(1), h = grid.size(1), w = grid.size(2);
  TORCH_CHECK(x.dim() == 5 && x.size(1) == c && x.size(3) == h && x.size(4) == w,
              "the Gaussian mask readout expects core features of shape (batch, ", c, ", time, ", h, ", ", w,
              "), got ", x.sizes());
  if (options_.positive) {
    // openretina clamps the parameter's data in place on every forward (in
    // eval too), so the stored weights themselves become non-negative. Through
    // .data(), as openretina's `.data.clamp_`: the version counter is not
    // bumped, so a graph built by an earlier forward stays valid for backward.
    torch::NoGradGuard no_grad;
    features.data().clamp_(0);
  }
  const int64_t B = x.size(0), T = x.size(2), N = outdims_;
  // y[b,t,n] = Σ_c f[c,n] Σ_hw x[b,c,t,hw]·p[n,hw] = Σ_(c,hw) x[b,t,(c,hw)]·W[(c,hw),n]
  // with W = f ⊗ p: one GEMM, and no (B, C, T, N) intermediate as openretina's
  // einsum-then-multiply builds.
  at::Tensor mask_t = get_mask().reshape({N, h * w}).t().contiguous();  // (HW, N)
  at::Tensor weight = (features.view({c, 1, N}) * mask_t.view({1, h * w, N})).reshape({c * h * w, N});
  at::Tensor xt = x.permute({0, 2, 1, 3, 4}).reshape({B * T, c * h * w});
  at::Tensor y = xt.mm(weight).view({B, T, N});
  return torch::softplus(y * scale_param + bias);
}

at::Tensor GaussianMaskReadout::mask_l1(bool average) const {
  at::Tensor var = torch::exp(mask_log_var * options_.gaussian_var_scale);
  at::Tensor mean_sq = (mask_mean * options_.gaussian_mean_scale).pow(2);
  return average ? var.mean() + mean_sq.mean() : var.sum() + mean_sq.sum();
}

at::Tensor GaussianMaskReadout::feature_l1(bool average) const {
  return average ? features.abs().mean() : features.abs().sum();
}

at::Tensor GaussianMaskReadout::regularizer(const std::string&) {
  return mask_l1() * options_.mask_l1_reg + feature_l1() * options_.feature_weights_l1_reg;
}

// ---- MultiGaussianMaskReadout ----

MultiGaussianMaskReadout::MultiGaussianMaskReadout(const std::vector<int64_t>& in_shape,
                                                   const std::map<std::string, int64_t>& n_neurons_dict,
                                                   const GaussianMaskReadoutOptions& options,
                                                   const std::map<std::string, at::Tensor>& mean_activity_dict) {
  check(!n_neurons_dict.empty(), "MultiGaussianMaskReadout", "n_neurons_dict has no sessions");
  for (const auto& [key, _] : mean_activity_dict)
    check(n_neurons_dict.count(key) != 0, "MultiGaussianMaskReadout",
          "mean_activity_dict has session '" + key + "', which n_neurons_dict lacks");
  for (const auto& [key, n] : n_neurons_dict) {
    // The session name becomes a state-dict key component: it cannot be empty
    // ("" means all sessions) nor contain the key separator.
    check(!key.empty() && key.find('.') == std::string::npos, "MultiGaussianMaskReadout",
          "session name '" + key + "' must be non-empty and contain no '.'");
    auto it = mean_activity_dict.find(key);
    at::Tensor mean_activity = it == mean_activity_dict.end() ? at::Tensor() : it->second;
    readouts_[key] =
        register_module(key, std::make_shared<GaussianMaskReadout>(in_shape, n, options, mean_activity));
  }
}

std::shared_ptr<GaussianMaskReadout> MultiGaussianMaskReadout::session(const std::string& data_key) const {
  auto it = readouts_.find(data_key);
  if (it == readouts_.end()) {
    std::string known;
    for (const auto& [key, _] : readouts_) known += (known.empty() ? "" : ", ") + key;
    fail("readout", "unknown session (data_key) '" + data_key + "'; the known sessions are: " + known);
  }
  return it->second;
}

at::Tensor MultiGaussianMaskReadout::forward(const at::Tensor& x, const std::string& data_key) {
  if (!data_key.empty()) return session(data_key)->forward(x);
  std::vector<at::Tensor> outputs;
  for (const auto& [key, readout] : readouts_) outputs.push_back(readout->forward(x));  // sorted keys
  return torch::cat(outputs, -1);
}

at::Tensor MultiGaussianMaskReadout::regularizer(const std::string& data_key) {
  if (!data_key.empty()) return session(data_key)->regularizer();
  at::Tensor total = torch::zeros({});
  for (const auto& [key, readout] : readouts_) total = total + readout->regularizer();
  return total;
}

std::vector<std::string> MultiGaussianMaskReadout::sessions() const {
  std::vector<std::string> keys;
  for (const auto& [key, _] : readouts_) keys.push_back(key);
  return keys;
}

int64_t MultiGaussianMaskReadout::n_neurons(const std::string& data_key) const {
  if (!data_key.empty()) return session(data_key)->n_neurons();
  int64_t total = 0;
  for (const auto& [key, readout] : readouts_) total += readout->n_neurons();
  return total;
}

}  // namespace fovea::nn
