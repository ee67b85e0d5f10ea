// openretina's factorized (Klindt) readout and its multi-session container.
#include "fovea/nn/factorized_readout.h"

#include <torch/torch.h>

#include "fovea/error.h"
#include "json_fields.h"
#include "json_tensor.h"

namespace fovea::nn {

FactorizedReadoutOptions FactorizedReadoutOptions::from_json(const Json& spec) {
  FactorizedReadoutOptions o;
  o.mask_l1_reg = field<double>(spec, "mask_l1_reg", o.mask_l1_reg);
  o.weights_l1_reg = field<double>(spec, "weights_l1_reg", o.weights_l1_reg);
  o.laplace_mask_reg = field<double>(spec, "laplace_mask_reg", o.laplace_mask_reg);
  o.readout_bias = field<bool>(spec, "readout_bias", o.readout_bias);
  o.weights_constraint = field<std::string>(spec, "weights_constraint", "");
  o.mask_constraint = field<std::string>(spec, "mask_constraint", "");
  if (spec.contains("init_mask")) o.init_mask = tensor_from_json(spec.at("init_mask"), "model spec field 'init_mask'");
  if (spec.contains("init_weights"))
    o.init_weights = tensor_from_json(spec.at("init_weights"), "model spec field 'init_weights'");
  if (spec.contains("init_scales") && !spec.at("init_scales").is_null()) {
    auto scales = field<std::vector<std::vector<double>>>(spec, "init_scales", {});
    if (scales.size() != 2 || scales[0].size() != 2 || scales[1].size() != 2)
      fail("model spec field 'init_scales'", "must be [[mask mean, mask std], [weights mean, weights std]], got " +
                                                 spec.at("init_scales").dump());
    o.init_scales = {{{scales[0][0], scales[0][1]}, {scales[1][0], scales[1][1]}}};
  }
  o.readout_reg_avg = field<bool>(spec, "readout_reg_avg", o.readout_reg_avg);
  o.legacy_klindt = field<bool>(spec, "legacy_klindt", o.legacy_klindt);
  return o;
}

void FactorizedReadoutOptions::validate(const std::string& where) const {
  if (!weights_constraint.empty() && weights_constraint != "abs" && weights_constraint != "norm" &&
      weights_constraint != "absnorm")
    fail(where, "unknown weights_constraint '" + weights_constraint + "' (known: abs, norm, absnorm, or null)");
  if (!mask_constraint.empty() && mask_constraint != "abs")
    fail(where, "unknown mask_constraint '" + mask_constraint + "' (known: abs, or null)");
  if (!init_mask.defined() && !init_scales) fail(where, "either init_mask or init_scales must be given");
  if (!init_weights.defined() && !init_scales) fail(where, "either init_weights or init_scales must be given");
  if (init_scales)
    for (const auto& [mean, std] : *init_scales)
      check(std >= 0.0, where, "init_scales standard deviations must be >= 0, got " + std::to_string(std));
}

// ---- FactorizedReadout ----

FactorizedReadout::FactorizedReadout(const std::vector<int64_t>& in_shape, int64_t outdims,
                                     const FactorizedReadoutOptions& options, const at::Tensor& mean_activity)
    : outdims_(outdims), options_(options) {
  const std::string where = "FactorizedReadout";
  check(in_shape.size() == 4, where,
        "in_shape must be (channels, time, height, width), got " + std::to_string(in_shape.size()) + " values");
  check(outdims > 0, where, "the number of neurons must be positive, got " + std::to_string(outdims));
  options.validate(where);
  const int64_t c = in_shape[0];
  h_ = in_shape[2];
  w_ = in_shape[3];
  check(c > 0 && h_ > 0 && w_ > 0, where, "in_shape has a non-positive channel or spatial size");
  // The Laplace term is a valid 3x3 convolution of H'×W' images.
  check(options.laplace_mask_reg == 0.0 || (h_ >= 3 && w_ >= 3), where,
        "laplace_mask_reg needs a core output of at least 3x3, got " + std::to_string(h_) + "x" + std::to_string(w_));

  torch::NoGradGuard no_grad;
  at::Tensor mask;
  if (options.init_mask.defined()) {
    const at::Tensor& m = options.init_mask;
    check(m.dim() == 4 && m.size(0) == outdims && m.size(1) == 1 && m.size(2) >= h_ && m.size(3) >= w_, where,
          "init_mask must be (" + std::to_string(outdims) + ", 1, >=" + std::to_string(h_) + ", >=" +
              std::to_string(w_) + ")");
    // The centre crop, as openretina takes it ((H0 - h) // 2 offsets).
    const int64_t top = (m.size(2) - h_) / 2, left = (m.size(3) - w_) / 2;
    at::Tensor crop = m.slice(2, top, top + h_).slice(3, left, left + w_);
    mask = crop.reshape({outdims, h_ * w_}).t().to(torch::kFloat32).contiguous();
  } else {
    mask = torch::empty({h_ * w_, outdims}).normal_((*options.init_scales)[0][0], (*options.init_scales)[0][1]);
  }
  at::Tensor weights;
  if (options.init_weights.defined()) {
    check(options.init_weights.sizes().equals({c, outdims}), where,
          "init_weights must be (" + std::to_string(c) + ", " + std::to_string(outdims) + ")");
    // A copy per session: openretina wraps the one given tensor in every
    // session's Parameter, so its sessions would share (and co-train) it.
    weights = options.init_weights.to(torch::kFloat32).clone();
  } else {
    weights = torch::empty({c, outdims}).normal_((*options.init_scales)[1][0], (*options.init_scales)[1][1]);
  }
  mask_weights = register_parameter("mask_weights", mask);
  feature_weights = register_parameter(options.legacy_klindt ? "readout_weights" : "feature_weights", weights);
  if (options.legacy_klindt) {
    bias = register_parameter("bias", torch::full({outdims}, options.readout_bias ? 0.5 : 0.0));
  } else {
    // Without readout_bias openretina keeps a zero buffer, so the key exists either way.
    bias = options.readout_bias ? register_parameter("bias", torch::zeros({outdims}))
                                : register_buffer("bias", torch::zeros({outdims}));
    if (mean_activity.defined()) {
      check(mean_activity.numel() == outdims, where,
            "mean_activity has " + std::to_string(mean_activity.numel()) + " values, the readout has " +
                std::to_string(outdims) + " neurons");
      bias.copy_(mean_activity.reshape({outdims}));
    }
  }
  _input_weights_regularizer_spatial =
      register_module("_input_weights_regularizer_spatial", FlatLaplaceL23dnorm(/*padding=*/0));
}

void FactorizedReadout::apply_constraints() {
  // On the stored data (openretina's `.data` updates): no autograd history,
  // and a graph built earlier stays valid.
  torch::NoGradGuard no_grad;
  if (options_.mask_constraint == "abs") mask_weights.data().abs_();
  const std::string& wc = options_.weights_constraint;
  at::Tensor w = feature_weights.data();
  if (wc == "abs" || wc == "absnorm") w.abs_();
  if (wc == "norm" || wc == "absnorm") w.div_(torch::sqrt(w.pow(2).sum(0, /*keepdim=*/true) + 1e-5));
}

at::Tensor FactorizedReadout::forward(const at::Tensor& x, const std::string&) {
  const int64_t c = feature_weights.size(0);
  TORCH_CHECK(x.dim() == 5 && x.size(1) == c && x.size(3) == h_ && x.size(4) == w_,
              "the factorized readout expects core features of shape (batch, ", c, ", time, ", h_, ", ", w_,
              "), got ", x.sizes());
  apply_constraints();
  const int64_t B = x.size(0), T = x.size(2);
  // Σ_p x[b,c,t,p]·m[p,n] for every (b,t,c), then Σ_c w[c,n]: a GEMM over
  // space followed by a weighted sum over channels, as openretina orders it.
  at::Tensor xt = x.reshape({B, c, T, h_ * w_}).permute({0, 2, 1, 3});  // (B, T, C, HW)
  at::Tensor masked = torch::matmul(xt, mask_weights);                  // (B, T, C, N)
  at::Tensor out = (masked * feature_weights).sum(2);                    // (B, T, N)
  if (options_.legacy_klindt) return options_.readout_bias ? torch::softplus(out + bias) : out;
  if (options_.readout_bias) out = out + bias;
  return torch::softplus(out);
}

at::Tensor FactorizedReadout::laplace_term() {
  return _input_weights_regularizer_spatial->forward(mask_weights.reshape({-1, 1, 1, h_, w_}), /*avg=*/false);
}

at::Tensor FactorizedReadout::spatial_masks() const { return mask_weights.t().reshape({outdims_, h_, w_}); }

at::Tensor FactorizedReadout::regularizer(const std::string&) {
  at::Tensor mask_r = options_.mask_l1_reg * mask_weights.abs().sum(0).mean();
  at::Tensor weights_r = options_.weights_l1_reg * feature_weights.abs().sum(0).mean();
  // openretina always evaluates the Laplace term; with a zero weight it adds
  // nothing but would fail on masks smaller than 3x3, so it is skipped.
  if (options_.laplace_mask_reg == 0.0) return mask_r + weights_r;
  at::Tensor laplace_r = options_.laplace_mask_reg * laplace_term();
  return options_.readout_reg_avg ? mask_r + weights_r + laplace_r / 3 : mask_r + weights_r + laplace_r;
}

// ---- MultiFactorizedReadout ----

MultiFactorizedReadout::MultiFactorizedReadout(const std::vector<int64_t>& in_shape,
                                               const std::map<std::string, int64_t>& n_neurons_dict,
                                               const FactorizedReadoutOptions& options,
                                               const std::map<std::string, at::Tensor>& mean_activity_dict) {
  check_sessions(n_neurons_dict, mean_activity_dict, "MultiFactorizedReadout");
  for (const auto& [key, n] : n_neurons_dict)
    add_session(key, std::make_shared<FactorizedReadout>(in_shape, n, options, mean_activity_of(mean_activity_dict, key)));
}

}  // namespace fovea::nn
