// openretina's point Gaussian readout and its multi-session container.
#include "fovea/nn/point_gaussian_readout.h"

#include <torch/torch.h>

#include "fovea/error.h"
#include "json_fields.h"
#include "nonlinearity_by_name.h"

namespace fovea::nn {

PointGaussianReadoutOptions PointGaussianReadoutOptions::from_json(const Json& spec) {
  PointGaussianReadoutOptions o;
  o.bias = field<bool>(spec, "bias", o.bias);
  o.init_mu_range = field<double>(spec, "init_mu_range", o.init_mu_range);
  o.init_sigma_range = field<double>(spec, "init_sigma_range", o.init_sigma_range);
  o.batch_sample = field<bool>(spec, "batch_sample", o.batch_sample);
  o.align_corners = field<bool>(spec, "align_corners", o.align_corners);
  o.gauss_type = field<std::string>(spec, "gauss_type", o.gauss_type);
  // The current names win over the older MultiSampledGaussianReadoutWrapper's.
  o.gamma = field<double>(spec, "gamma", field<double>(spec, "gamma_readout", o.gamma));
  // (The older wrapper's readout_reg_avg is not read: that wrapper never applied it.)
  o.reg_avg = field<bool>(spec, "reg_avg", o.reg_avg);
  for (const char* key : {"nonlinearity_function", "nonlinearity"})
    if (spec.contains(key) && !spec.at(key).is_null()) {
      o.nonlinearity = nonlinearity_name_from_json(spec.at(key), key);
      break;
    }
  for (const char* key : {"grid_mean_predictor", "shared_features", "shared_grid", "init_grid"})
    if (spec.contains(key) && !spec.at(key).is_null())
      fail(std::string("model spec field '") + key + "'",
           "is not supported by fovea's point Gaussian readout (it must be null)");
  return o;
}

void PointGaussianReadoutOptions::validate(const std::string& where) const {
  // openretina's own check (it names the sigma range too).
  check(init_mu_range > 0.0 && init_mu_range <= 1.0, where,
        "init_mu_range must be in (0, 1], got " + std::to_string(init_mu_range));
  check(init_sigma_range > 0.0, where, "init_sigma_range must be positive, got " + std::to_string(init_sigma_range));
  check(gauss_type == "full" || gauss_type == "uncorrelated" || gauss_type == "isotropic", where,
        "unknown gauss_type '" + gauss_type + "' (known: full, uncorrelated, isotropic)");
  check(is_known_nonlinearity(nonlinearity), where,
        "unknown nonlinearity '" + nonlinearity + "' (known: " + known_nonlinearities() + ")");
}

// ---- PointGaussianReadout ----

PointGaussianReadout::PointGaussianReadout(const std::vector<int64_t>& in_shape, int64_t outdims,
                                           const PointGaussianReadoutOptions& options,
                                           const at::Tensor& mean_activity)
    : outdims_(outdims), options_(options) {
  const std::string where = "PointGaussianReadout";
  check(in_shape.size() == 4, where,
        "in_shape must be (channels, time, height, width), got " + std::to_string(in_shape.size()) + " values");
  check(outdims > 0, where, "the number of neurons must be positive, got " + std::to_string(outdims));
  options.validate(where);
  const int64_t c = in_shape[0];
  check(c > 0, where, "in_shape has no channels");

  torch::NoGradGuard no_grad;
  _mu = register_parameter("_mu", torch::empty({1, outdims, 1, 2}).uniform_(-options.init_mu_range, options.init_mu_range));
  // The init_sigma_range given is used. openretina's MultiSampledGaussianReadout
  // passes it under a name PointGaussianReadout does not take (its **kwargs
  // swallow it), so there sigma always starts from the default range 1.
  if (options.gauss_type == "full") {
    sigma = register_parameter(
        "sigma", torch::empty({1, outdims, 2, 2}).uniform_(-options.init_sigma_range, options.init_sigma_range));
  } else {
    const int64_t last = options.gauss_type == "uncorrelated" ? 2 : 1;
    sigma = register_parameter("sigma", torch::full({1, outdims, 1, last}, options.init_sigma_range));
  }
  _features = register_parameter("_features", torch::full({1, c, 1, outdims}, 1.0 / static_cast<double>(c)));
  if (options.bias) bias = register_parameter("bias", torch::zeros({outdims}));
  initialize_bias(mean_activity);
}

void PointGaussianReadout::initialize_bias(const at::Tensor& mean_activity) {
  if (!bias.defined()) return;
  torch::NoGradGuard no_grad;
  if (!mean_activity.defined()) {
    bias.zero_();
    return;
  }
  check(mean_activity.numel() == outdims_, "PointGaussianReadout",
        "mean_activity has " + std::to_string(mean_activity.numel()) + " values, the readout has " +
            std::to_string(outdims_) + " neurons");
  bias.copy_(mean_activity.reshape({outdims_}));
}

at::Tensor PointGaussianReadout::sample_grid(int64_t batch_size, bool sample) {
  {
    // openretina keeps the means inside the grid by clamping the stored
    // values in place; through .data() the version counter is not bumped.
    torch::NoGradGuard no_grad;
    _mu.data().clamp_(-1, 1);
  }
  const std::vector<int64_t> shape = {batch_size, outdims_, 1, 2};
  at::Tensor z = sample ? torch::randn(shape, _mu.options()) : torch::zeros(shape, _mu.options());
  at::Tensor grid;
  if (options_.gauss_type == "full")
    grid = torch::einsum("ancd,bnid->bnic", {sigma, z}) + _mu;  // σ·z per neuron, a 2x2 matrix times z
  else
    grid = z * sigma + _mu;
  return torch::clamp(grid, -1, 1);
}

at::Tensor PointGaussianReadout::forward_frames(const at::Tensor& frames, std::optional<bool> sample) {
  const int64_t c = _features.size(1);
  TORCH_CHECK(frames.dim() == 4 && frames.size(1) == c,
              "the point Gaussian readout expects frames of shape (batch, ", c, ", height, width), got ",
              frames.sizes());
  // Another spatial size than in_shape's is read as it is (openretina only
  // warns): the grid coordinates are relative to the feature map.
  const int64_t n_frames = frames.size(0);
  const bool draw = sample.value_or(is_training());
  at::Tensor grid = options_.batch_sample ? sample_grid(n_frames, draw)
                                          : sample_grid(1, draw).expand({n_frames, outdims_, 1, 2});
  // (B', C, N, 1): bilinear, zeros outside.
  at::Tensor y = at::grid_sampler(frames, grid, /*interpolation_mode=*/0, /*padding_mode=*/0, options_.align_corners);
  y = (y.squeeze(-1) * _features.view({1, c, outdims_})).sum(1);  // (B', N)
  if (bias.defined()) y = y + bias;
  return y;
}

at::Tensor PointGaussianReadout::forward(const at::Tensor& x, const std::string&) {
  TORCH_CHECK(x.dim() == 5, "the point Gaussian readout expects core features (batch, channels, time, height, width), got ",
              x.sizes());
  const int64_t B = x.size(0), T = x.size(2);
  // Frames of one sample stay together: (b, t) -> b·T + t.
  at::Tensor frames = x.transpose(1, 2).reshape({B * T, x.size(1), x.size(3), x.size(4)});
  return apply_nonlinearity(options_.nonlinearity, forward_frames(frames).view({B, T, outdims_}));
}

at::Tensor PointGaussianReadout::regularizer(const std::string&) {
  at::Tensor l1 = options_.reg_avg ? _features.abs().mean() : _features.abs().sum();
  return l1 * options_.gamma;
}

// ---- MultiSampledGaussianReadout ----

MultiSampledGaussianReadout::MultiSampledGaussianReadout(const std::vector<int64_t>& in_shape,
                                                         const std::map<std::string, int64_t>& n_neurons_dict,
                                                         const PointGaussianReadoutOptions& options,
                                                         const std::map<std::string, at::Tensor>& mean_activity_dict) {
  check_sessions(n_neurons_dict, mean_activity_dict, "MultiSampledGaussianReadout");
  for (const auto& [key, n] : n_neurons_dict)
    add_session(key, std::make_shared<PointGaussianReadout>(in_shape, n, options, mean_activity_of(mean_activity_dict, key)));
}

}  // namespace fovea::nn
