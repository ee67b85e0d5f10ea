#pragma once
// Training responses checked against what the loss assumes, before training
// starts: a Poisson loss (poisson, l1_poisson) models non-negative rates, and
// no loss can fit NaN or infinite values. Constant neurons do not stop
// training (a warning): they carry no signal.
#include <ATen/core/Tensor.h>

#include <string>
#include <utility>
#include <vector>

namespace fovea::api {

// `responses`: (session name, (samples, neurons)) for each session; "" for a
// single-session dataset. `loss` as training.loss names it. Throws
// fovea::Error naming `origin`, the count, the first few neurons and what to
// do, for NaN/infinite values and for negative values under a Poisson loss.
// Returns the warning about constant neurons ("" when there are none).
// `remedy_for_negative` says what to do about negative values (the loss a
// recipe can switch to).
std::string check_training_responses(const std::vector<std::pair<std::string, at::Tensor>>& responses,
                                     const std::string& loss, const std::string& origin,
                                     const std::string& remedy_for_negative =
                                         "use loss: mse (training.loss=mse), shift the responses to be >= 0, or drop "
                                         "these neurons");

}  // namespace fovea::api
