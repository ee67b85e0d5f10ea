#pragma once
// Reading the optimiser, learning-rate scheduler, gradient accumulation and
// loss keys of a run config's `training` section. The defaults of an absent
// key are the values of openretina's config group for that choice
// (configs/optimizer/*.yaml, configs/lr_scheduler/*.yaml), so
// `training.lr_schedule=step` trains as openretina's `lr_scheduler=step_lr`.
#include <nlohmann/json.hpp>

#include "fovea/train/retina_losses.h"
#include "fovea/train/trainer.h"

namespace fovea::train {

// training.{optimizer, momentum, dampening, nesterov, betas, eps,
// lr_schedule's PyTorch scheduler and its lr_scheduler section,
// accumulate_grad_batches} into `o` (o.max_epochs must be set first: it is
// CosineAnnealingLR's default T_max).
void read_optimizer_and_scheduler(const nlohmann::json& training, TrainerOptions& o);

// training.{loss, gamma_l1, loss_avg}.
RetinaLossOptions read_retina_loss(const nlohmann::json& training);

// openretina's weight decay for the optimiser: 0.01 (AdamW), 0 (SGD).
double default_weight_decay(const std::string& optimizer);

}  // namespace fovea::train
