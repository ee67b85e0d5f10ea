// openretina's DummyCore, LNP readouts and the single-cell separated LNP model.
#include "fovea/nn/lnp.h"

#include <torch/torch.h>

#include <cmath>

#include "fovea/error.h"
#include "json_fields.h"
#include "nonlinearity_by_name.h"

namespace fovea::nn {

namespace {

constexpr double kEps = 1e-6;  // openretina's regularizers.EPS

std::optional<int64_t> optional_int(const Json& spec, const std::string& key) {
  if (!spec.contains(key) || spec.at(key).is_null()) return std::nullopt;
  return field<int64_t>(spec, key, 0);
}

std::string nonlinearity_field(const Json& spec, const std::string& key, const std::string& fallback) {
  if (!spec.contains(key) || spec.at(key).is_null()) return fallback;
  if (spec.at(key).is_string() && spec.at(key).get<std::string>() == "parametrized_softplus")
    return "parametrized_softplus";
  return nonlinearity_name_from_json(spec.at(key), key);
}

// openretina's gaussian2d(size, sigma) with its defaults (gamma 1, theta 0,
// centre 0, normalised to [0, 1] by subtracting the minimum and dividing by
// the maximum): row i at -(h-1)/2 + i, column j at -(w-1)/2 + j.
at::Tensor normalised_gaussian2d(int64_t h, int64_t w, double sigma) {
  at::Tensor rows = torch::arange(h, torch::kFloat64) - (h - 1) / 2.0;
  at::Tensor cols = torch::arange(w, torch::kFloat64) - (w - 1) / 2.0;
  at::Tensor g = torch::exp(-0.5 * (rows.view({h, 1}).pow(2) + cols.view({1, w}).pow(2)) / (sigma * sigma));
  g = g - g.min();
  g = g / g.max();
  return g.to(torch::kFloat32);
}

}  // namespace

// ---- DummyCore ----

DummyCore::DummyCore(int64_t cut_first_n_frames) : cut_(cut_first_n_frames) {
  check(cut_first_n_frames >= 0, "DummyCore",
        "cut_first_n_frames must be >= 0, got " + std::to_string(cut_first_n_frames));
}

at::Tensor DummyCore::forward(const at::Tensor& input) {
  TORCH_CHECK(input.dim() == 5, "DummyCore expects (batch, channels, time, height, width), got ", input.sizes());
  TORCH_CHECK(input.size(2) > cut_, "DummyCore cuts ", cut_, " frames from an input of ", input.size(2));
  return cut_ == 0 ? input : input.slice(2, cut_);
}

std::vector<int64_t> DummyCore::output_shape(const std::vector<int64_t>& s) {
  check(s.size() == 4, "DummyCore",
        "the input shape must be (channels, time, height, width), got " + std::to_string(s.size()) + " values");
  check(s[1] > cut_, "DummyCore",
        "cut_first_n_frames is " + std::to_string(cut_) + ", the input has " + std::to_string(s[1]) + " frames");
  return {s[0], s[1] - cut_, s[2], s[3]};
}

// ---- SmoothnessRegularizer ----

SmoothnessRegularizerImpl::SmoothnessRegularizerImpl(std::string name, std::optional<int64_t> padding,
                                                     std::array<int64_t, 2> kernel)
    : name_(std::move(name)), padding_(padding.value_or(1)), kernel_(kernel) {
  const std::string where = "smoothness regulariser '" + name_ + "'";
  check(name_ == "LaplaceL2norm" || name_ == "GaussianLaplaceL2" || name_ == "Laplace1d", where,
        "unknown regulariser (known: LaplaceL2norm, GaussianLaplaceL2, Laplace1d)");
  check(padding_ >= 0, where, "laplace_padding must be >= 0, got " + std::to_string(padding_));
  // The Gaussian weighting multiplies the filtered kernel, which has the kernel's size only with padding 1.
  check(name_ != "GaussianLaplaceL2" || (padding_ == 1 && kernel_[0] > 0 && kernel_[1] > 0), where,
        "needs laplace_padding 1 (or null) and the kernel size");
  reset();
}

void SmoothnessRegularizerImpl::reset() {
  if (name_ == "Laplace1d") {
    filter = register_buffer("filter", torch::tensor({-1.f, 2.f, -1.f}).view({1, 1, 3}));
    return;
  }
  laplace = register_module("laplace", Laplace(padding_));
  if (name_ == "GaussianLaplaceL2")
    gaussian = normalised_gaussian2d(kernel_[0], kernel_[1], std::min(kernel_[0], kernel_[1]) / 4.0);
}

at::Tensor SmoothnessRegularizerImpl::forward(const at::Tensor& weight) {
  if (name_ == "Laplace1d") {
    TORCH_CHECK(weight.dim() == 3, "Laplace1d expects (O, I, T), got ", weight.sizes());
    const at::Tensor flat = weight.reshape({-1, 1, weight.size(2)});
    const at::Tensor num = torch::conv1d(flat, filter.to(flat.dtype()), {}, 1, padding_).pow(2).sum();
    return num / (flat.pow(2).sum() + kEps);
  }
  TORCH_CHECK(weight.dim() == 4, name_, " expects (O, I, h, w), got ", weight.sizes());
  const at::Tensor flat = weight.reshape({-1, 1, weight.size(2), weight.size(3)});
  at::Tensor filtered = laplace->forward(flat);
  if (name_ == "GaussianLaplaceL2") {
    TORCH_CHECK(weight.size(2) == kernel_[0] && weight.size(3) == kernel_[1], "GaussianLaplaceL2 was built for ",
                kernel_[0], "x", kernel_[1], " kernels, got ", weight.sizes());
    filtered = filtered * (1 - gaussian.to(filtered.device(), filtered.scalar_type()));
  }
  return filtered.pow(2).sum() / (flat.pow(2).sum() + kEps);
}

// ---- LNPReadout ----

LNPReadoutOptions LNPReadoutOptions::from_json(const Json& spec) {
  LNPReadoutOptions o;
  o.smooth_weight = field<double>(spec, "smooth_weight", o.smooth_weight);
  o.sparse_weight = field<double>(spec, "sparse_weight", o.sparse_weight);
  o.smooth_regularizer = field<std::string>(spec, "smooth_regularizer", o.smooth_regularizer);
  o.laplace_padding = optional_int(spec, "laplace_padding");
  o.nonlinearity = nonlinearity_field(spec, "nonlinearity", o.nonlinearity);
  o.bias = field<bool>(spec, "bias", o.bias);
  o.temporal_kernel_size = field<int64_t>(spec, "temporal_kernel_size", o.temporal_kernel_size);
  return o;
}

void LNPReadoutOptions::validate(const std::string& where) const {
  check(temporal_kernel_size >= 1, where, "temporal_kernel_size must be at least 1");
  check(smooth_regularizer == "LaplaceL2norm" || smooth_regularizer == "GaussianLaplaceL2", where,
        "unknown smooth_regularizer '" + smooth_regularizer + "' (known: LaplaceL2norm, GaussianLaplaceL2)");
  check(is_known_nonlinearity(nonlinearity), where,
        "unknown nonlinearity '" + nonlinearity + "' (known: " + known_nonlinearities() + ")");
}

LNPReadout::LNPReadout(const std::vector<int64_t>& in_shape, int64_t outdims, const LNPReadoutOptions& options,
                       const at::Tensor& mean_activity)
    : outdims_(outdims), options_(options) {
  const std::string where = "LNPReadout";
  check(in_shape.size() == 4, where,
        "in_shape must be (channels, time, height, width), got " + std::to_string(in_shape.size()) + " values");
  check(outdims > 0, where, "the number of neurons must be positive, got " + std::to_string(outdims));
  check(in_shape[0] > 0 && in_shape[2] > 0 && in_shape[3] > 0, where, "in_shape has a non-positive channel or spatial size");
  options.validate(where);
  const int64_t h = in_shape[2], w = in_shape[3];
  // One kernel per neuron over the whole frame (and the last temporal_kernel_size frames).
  inner_product_kernel = register_module(
      "inner_product_kernel",
      torch::nn::Conv3d(
          torch::nn::Conv3dOptions(in_shape[0], outdims, {options.temporal_kernel_size, h, w}).bias(options.bias)));
  torch::NoGradGuard no_grad;
  torch::nn::init::xavier_normal_(inner_product_kernel->weight);
  if (options.bias) {
    // openretina leaves the Conv3d default bias unless a mean activity is given.
    if (mean_activity.defined()) {
      check(mean_activity.numel() == outdims, where,
            "mean_activity has " + std::to_string(mean_activity.numel()) + " values, the readout has " +
                std::to_string(outdims) + " neurons");
      inner_product_kernel->bias.copy_(mean_activity.reshape({outdims}));
    }
  }
  _smooth_reg_fn = register_module(
      "_smooth_reg_fn", SmoothnessRegularizer(options.smooth_regularizer, options.laplace_padding, std::array<int64_t, 2>{h, w}));
}

at::Tensor LNPReadout::forward(const at::Tensor& x, const std::string&) {
  const auto& k = inner_product_kernel->weight;
  TORCH_CHECK(x.dim() == 5 && x.size(1) == k.size(1) && x.size(3) == k.size(3) && x.size(4) == k.size(4),
              "the LNP readout expects (batch, ", k.size(1), ", time, ", k.size(3), ", ", k.size(4), "), got ",
              x.sizes());
  at::Tensor out = apply_nonlinearity(options_.nonlinearity, inner_product_kernel->forward(x));  // (B, N, T, 1, 1)
  return out.flatten(2).transpose(1, 2);                                                        // (B, T, N)
}

// Every (channel, frame) slice of a kernel is one 2-D image to smooth.
at::Tensor LNPReadout::laplace() { return _smooth_reg_fn->forward(inner_product_kernel->weight.flatten(1, 2)); }

at::Tensor LNPReadout::weights_l1(bool average) const {
  const auto& w = inner_product_kernel->weight;
  return average ? w.abs().mean() : w.abs().sum();
}

at::Tensor LNPReadout::regularizer(const std::string&) {
  return options_.smooth_weight * laplace() + options_.sparse_weight * weights_l1();
}

MultipleLNPReadout::MultipleLNPReadout(const std::vector<int64_t>& in_shape,
                                       const std::map<std::string, int64_t>& n_neurons_dict,
                                       const LNPReadoutOptions& options,
                                       const std::map<std::string, at::Tensor>& mean_activity_dict) {
  check_sessions(n_neurons_dict, mean_activity_dict, "MultipleLNPReadout");
  for (const auto& [key, n] : n_neurons_dict)
    add_session(key, std::make_shared<LNPReadout>(in_shape, n, options, mean_activity_of(mean_activity_dict, key)));
}

// ---- ParametrizedSoftplus ----

void ParametrizedSoftplusImpl::reset() {
  b = register_parameter("b", torch::tensor(0.0f));
  w = register_parameter("w", torch::tensor(1.0f));
}

at::Tensor ParametrizedSoftplusImpl::forward(const at::Tensor& x) { return w * torch::softplus(x + b); }

// ---- SingleCellSeparatedLNP ----

SingleCellSeparatedLNPOptions SingleCellSeparatedLNPOptions::from_json(const Json& spec) {
  SingleCellSeparatedLNPOptions o;
  o.in_shape = field<std::vector<int64_t>>(spec, "in_shape", {});
  if (spec.contains("rf_location") && !spec.at("rf_location").is_null()) {
    auto loc = field<std::vector<int64_t>>(spec, "rf_location", {});
    if (loc.size() != 2) fail("model spec field 'rf_location'", "must be (y, x), got " + spec.at("rf_location").dump());
    o.rf_location = std::array<int64_t, 2>{loc[0], loc[1]};
  }
  auto ks = field<std::vector<int64_t>>(spec, "spat_kernel_size", {o.spat_kernel_size[0], o.spat_kernel_size[1]});
  if (ks.size() != 2) fail("model spec field 'spat_kernel_size'", "must be (height, width)");
  o.spat_kernel_size = {ks[0], ks[1]};
  o.rank = field<int64_t>(spec, "rank", o.rank);
  o.smooth_weight_spat = field<double>(spec, "smooth_weight_spat", o.smooth_weight_spat);
  o.smooth_weight_temp = field<double>(spec, "smooth_weight_temp", o.smooth_weight_temp);
  o.sparse_weight = field<double>(spec, "sparse_weight", o.sparse_weight);
  o.smooth_regularizer_spat = field<std::string>(spec, "smooth_regularizer_spat", o.smooth_regularizer_spat);
  o.smooth_regularizer_temp = field<std::string>(spec, "smooth_regularizer_temp", o.smooth_regularizer_temp);
  o.laplace_padding = optional_int(spec, "laplace_padding");
  o.nonlinearity = nonlinearity_field(spec, "nonlinearity", o.nonlinearity);
  o.normalize_weights = field<bool>(spec, "normalize_weights", o.normalize_weights);
  if (field<bool>(spec, "fit_gaussian", false))
    fail("model spec field 'fit_gaussian'", "true (a Gaussian spatial filter) is not supported by fovea");
  // The neuron's session: n_neurons_dict with one session of one neuron, as the other readouts take it.
  if (spec.contains("n_neurons_dict") && !spec.at("n_neurons_dict").is_null()) {
    auto dict = field<std::map<std::string, int64_t>>(spec, "n_neurons_dict", {});
    if (dict.size() != 1 || dict.begin()->second != 1)
      fail("model spec field 'n_neurons_dict'", "the single-cell LNP model has one session with one neuron, got " +
                                                    spec.at("n_neurons_dict").dump());
    o.session = dict.begin()->first;
  }
  return o;
}

SingleCellSeparatedLNP::SingleCellSeparatedLNP(const SingleCellSeparatedLNPOptions& options,
                                               const std::vector<int64_t>& core_output_shape)
    : options_(options) {
  const std::string where = "SingleCellSeparatedLNP";
  std::vector<int64_t>& s = options_.in_shape;
  if (s.empty()) s = core_output_shape;
  check(s.size() == 4, where, "in_shape must be (channels, time, height, width)");
  check(s[0] > 0 && s[1] > 0 && s[2] > 0 && s[3] > 0, where, "in_shape has a non-positive size");
  if (core_output_shape.size() == 4)
    check(core_output_shape[0] == s[0] && core_output_shape[2] == s[2] && core_output_shape[3] == s[3] &&
              core_output_shape[1] >= s[1],
          where, "in_shape (C, T, H, W) must match the core output's channels and frame size, with T at most its frames");
  check(options_.rank > 0, where, "rank must be positive, got " + std::to_string(options_.rank));
  check(options_.session.find('.') == std::string::npos, where, "the session name must contain no '.'");
  check(is_known_nonlinearity(options_.nonlinearity) || options_.nonlinearity == "parametrized_softplus", where,
        "unknown nonlinearity '" + options_.nonlinearity + "'");
  const auto [kh, kw] = options_.spat_kernel_size;
  check(kh > 0 && kw > 0 && kh <= s[2] && kw <= s[3], where,
        "spat_kernel_size (" + std::to_string(kh) + ", " + std::to_string(kw) + ") must fit the " +
            std::to_string(s[2]) + "x" + std::to_string(s[3]) + " frame");
  crop_ = s[3] != kw || s[2] != kh;
  location_ = options_.rf_location.value_or(std::array<int64_t, 2>{s[2] / 2, s[3] / 2});
  // openretina clips the patch at the frame's edge and then fails in the
  // convolution; here a patch that does not fit is an error up front.
  const auto [y, x] = location_;
  check(y - kh / 2 >= 0 && y + kh / 2 + kh % 2 <= s[2] && x - kw / 2 >= 0 && x + kw / 2 + kw % 2 <= s[3], where,
        "rf_location (" + std::to_string(y) + ", " + std::to_string(x) + ") puts the " + std::to_string(kh) + "x" +
            std::to_string(kw) + " patch outside the " + std::to_string(s[2]) + "x" + std::to_string(s[3]) + " frame");

  space_conv = register_module(
      "space_conv", torch::nn::Conv3d(torch::nn::Conv3dOptions(s[0], options_.rank, {1, kh, kw}).bias(false)));
  time_conv = register_module(
      "time_conv", torch::nn::Conv3d(torch::nn::Conv3dOptions(options_.rank, 1, {s[1], 1, 1}).bias(false)));
  {
    torch::NoGradGuard no_grad;
    torch::nn::init::xavier_normal_(space_conv->weight);
    torch::nn::init::xavier_normal_(time_conv->weight);
  }
  _smooth_reg_fn_spat = register_module(
      "_smooth_reg_fn_spat", SmoothnessRegularizer(options_.smooth_regularizer_spat, options_.laplace_padding, std::array<int64_t, 2>{kh, kw}));
  check(options_.smooth_regularizer_temp == "Laplace1d", where,
        "smooth_regularizer_temp must be Laplace1d, got '" + options_.smooth_regularizer_temp + "'");
  check(options_.smooth_regularizer_spat != "Laplace1d", where, "smooth_regularizer_spat cannot be Laplace1d");
  _smooth_reg_fn_temp =
      register_module("_smooth_reg_fn_temp", SmoothnessRegularizer("Laplace1d", options_.laplace_padding));
  if (options_.nonlinearity == "parametrized_softplus")
    parametrized_softplus = register_module("nonlinearity", ParametrizedSoftplus());
}

int64_t SingleCellSeparatedLNP::n_neurons(const std::string& data_key) const {
  check_data_key(data_key);
  return 1;
}

void SingleCellSeparatedLNP::check_data_key(const std::string& data_key) const {
  if (!data_key.empty() && data_key != options_.session)
    fail("readout", "unknown session (data_key) '" + data_key + "'; the single-cell LNP model's session is '" +
                        options_.session + "'");
}

at::Tensor SingleCellSeparatedLNP::crop_input(const at::Tensor& x) const {
  const auto [kh, kw] = options_.spat_kernel_size;
  const auto [y, xc] = location_;
  const int64_t h = x.size(3), w = x.size(4);
  const int64_t top = y - std::min(kh / 2, y), bottom = y + std::min(kh / 2 + kh % 2, h - y);
  const int64_t left = xc - std::min(kw / 2, xc), right = xc + std::min(kw / 2 + kw % 2, w - xc);
  return x.slice(3, top, bottom).slice(4, left, right);
}

void SingleCellSeparatedLNP::normalize_kernels() {
  torch::NoGradGuard no_grad;
  for (auto* conv : {&space_conv, &time_conv}) {
    at::Tensor w = (*conv)->weight.data();
    w.div_(w.norm());
  }
}

at::Tensor SingleCellSeparatedLNP::forward(const at::Tensor& x, const std::string& data_key) {
  check_data_key(data_key);
  const auto& s = options_.in_shape;
  TORCH_CHECK(x.dim() == 5 && x.size(1) == s[0] && x.size(2) >= s[1] && x.size(3) == s[2] && x.size(4) == s[3],
              "the single-cell LNP model expects (batch, ", s[0], ", >=", s[1], ", ", s[2], ", ", s[3], "), got ",
              x.sizes());
  if (options_.normalize_weights) normalize_kernels();
  at::Tensor out = time_conv->forward(space_conv->forward(crop_ ? crop_input(x) : x));  // (B, 1, T', 1, 1)
  out = parametrized_softplus ? parametrized_softplus->forward(out) : apply_nonlinearity(options_.nonlinearity, out);
  return out.flatten(2).transpose(1, 2);  // (B, T', 1)
}

at::Tensor SingleCellSeparatedLNP::regularizer(const std::string& data_key) {
  check_data_key(data_key);
  const auto& ws = space_conv->weight;  // (rank, C, 1, h, w)
  const auto& wt = time_conv->weight;   // (1, rank, T, 1, 1)
  at::Tensor laplace = options_.smooth_weight_spat * _smooth_reg_fn_spat->forward(ws.squeeze(2)) +
                       options_.smooth_weight_temp * _smooth_reg_fn_temp->forward(wt.squeeze(-1).squeeze(-1));
  return laplace + options_.sparse_weight * (ws.abs().mean() + wt.abs().mean());
}

}  // namespace fovea::nn
