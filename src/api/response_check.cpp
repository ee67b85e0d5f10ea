#include "response_check.h"

#include <ATen/ATen.h>

#include <cmath>

#include "fovea/error.h"

namespace fovea::api {

namespace {

constexpr int64_t kListed = 5;  // neurons named in a message

struct Found {
  int64_t count = 0;
  std::vector<std::string> first;
};

// Neurons where `bad` (samples, neurons) holds anywhere, over all sessions.
void collect(const std::string& session, const at::Tensor& bad, Found& found) {
  const at::Tensor neurons = bad.any(0).nonzero().flatten();
  found.count += neurons.numel();
  for (int64_t i = 0; i < neurons.numel() && static_cast<int64_t>(found.first.size()) < kListed; ++i)
    found.first.push_back((session.empty() ? "" : session + " ") + "neuron " +
                          std::to_string(neurons[i].item<int64_t>()));
}

std::string describe(const Found& f) {
  std::string s = std::to_string(f.count) + (f.count == 1 ? " neuron" : " neurons") + " (";
  for (size_t i = 0; i < f.first.size(); ++i) s += (i ? ", " : "") + f.first[i];
  return s + (f.count > static_cast<int64_t>(f.first.size()) ? ", ...)" : ")");
}

}  // namespace

std::string check_training_responses(const std::vector<std::pair<std::string, at::Tensor>>& responses,
                                     const std::string& loss, const std::string& origin,
                                     const std::string& remedy_for_negative) {
  Found not_finite, negative, constant;
  for (const auto& [session, r] : responses) {
    if (!r.defined() || r.dim() != 2 || r.size(0) == 0) continue;
    const at::Tensor x = r.to(at::kFloat);
    const at::Tensor finite = at::isfinite(x);
    collect(session, finite.logical_not(), not_finite);
    collect(session, x < 0, negative);
    // Constant over the finite samples: max == min.
    const at::Tensor hi = at::where(finite, x, at::full({}, -INFINITY)).amax(0);
    const at::Tensor lo = at::where(finite, x, at::full({}, INFINITY)).amin(0);
    collect(session, (hi == lo).unsqueeze(0), constant);
  }
  if (not_finite.count > 0)
    fail(origin, "the training responses of " + describe(not_finite) +
                     " hold NaN or infinite values, which no loss can fit: drop these neurons or fill the gaps");
  const bool poisson = loss == "poisson" || loss == "l1_poisson";
  if (poisson && negative.count > 0)
    fail(origin, "the training responses of " + describe(negative) + " are negative, which the " + loss +
                     " loss cannot fit (it models non-negative rates, e.g. spike counts; ΔF/F traces go below 0): " +
                     remedy_for_negative);
  if (constant.count > 0)
    return "the training responses of " + describe(constant) +
           " never change: they carry no signal to fit (and no correlation to evaluate); consider dropping them";
  return "";
}

}  // namespace fovea::api
