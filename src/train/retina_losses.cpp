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

at::Tensor l1_poisson_loss_3d(const at::Tensor& output, const at::Tensor& target, double gamma_l1,
                              const PoissonLoss3dOptions& options) {
  at::Tensor poisson = poisson_loss_3d(output, target, options);
  if (options.per_neuron) return poisson + gamma_l1 * output.reshape({-1, output.size(-1)}).abs().mean(0);
  return poisson + gamma_l1 * (options.avg ? output.abs().mean() : output.abs().sum());
}

at::Tensor mse_loss_3d(const at::Tensor& output, const at::Tensor& target) {
  at::Tensor y = align_target_3d(output, target, "MSE3d");
  return (output - y).pow(2).sum();
}

at::Tensor correlation_loss_3d(const at::Tensor& output, const at::Tensor& target, double eps, bool avg) {
  at::Tensor y = align_target_3d(output, target, "CorrelationLoss3d");
  at::Tensor dx = output - output.mean(1, true);
  at::Tensor dy = y - y.mean(1, true);
  at::Tensor corr = (dx * dy).mean(1) / torch::sqrt((dx.pow(2).mean(1) + eps) * (dy.pow(2).mean(1) + eps));
  return avg ? -corr.mean() : -corr.sum();
}

const std::vector<std::string>& retina_loss_names() {
  static const std::vector<std::string> names = {"poisson", "l1_poisson", "mse", "correlation"};
  return names;
}

at::Tensor retina_loss(const at::Tensor& output, const at::Tensor& target, const RetinaLossOptions& options) {
  PoissonLoss3dOptions poisson;
  poisson.avg = options.avg;
  if (options.name == "poisson") return poisson_loss_3d(output, target, poisson);
  if (options.name == "l1_poisson") return l1_poisson_loss_3d(output, target, options.gamma_l1, poisson);
  if (options.name == "mse") return mse_loss_3d(output, target);
  if (options.name == "correlation") return correlation_loss_3d(output, target, 1e-16, options.avg);
  fail("training option 'loss'", "unknown loss '" + options.name + "' (known: poisson, l1_poisson, mse, correlation)");
}

}  // namespace fovea::train
