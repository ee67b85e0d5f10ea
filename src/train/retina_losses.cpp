// openretina's losses for (batch, time, neurons) responses.
#include "fovea/train/retina_losses.h"

#include <torch/torch.h>

#include <sstream>

#include "fovea/error.h"

namespace fovea::train {

namespace {
std::string shape(const at::Tensor& t) {
  std::ostringstream s;
  s << t.sizes();
  return s.str();
}
}  // namespace

at::Tensor align_target_3d(const at::Tensor& output, const at::Tensor& target, const char* loss) {
  check(output.dim() == 3 && target.dim() == 3, loss,
        "expects output and target of shape (batch, time, neurons), got " + shape(output) + " and " + shape(target));
  check(output.size(0) == target.size(0) && output.size(2) == target.size(2), loss,
        "output " + shape(output) + " and target " + shape(target) + " differ in batch size or neuron count");
  const int64_t lag = target.size(1) - output.size(1);
  check(lag >= 0, loss,
        "the output has " + std::to_string(output.size(1)) + " frames, more than the target's " +
            std::to_string(target.size(1)));
  return target.slice(1, lag);
}

at::Tensor poisson_loss_3d(const at::Tensor& output, const at::Tensor& target, const PoissonLoss3dOptions& options) {
  at::Tensor y = align_target_3d(output, target, "PoissonLoss3d");
  at::Tensor loss = output - y * torch::log(output + options.bias);
  if (options.per_neuron) return loss.reshape({-1, loss.size(-1)}).mean(0);
  return options.avg ? loss.mean() : loss.sum();
}

}  // namespace fovea::train
