#pragma once
// Many minimodels trained in one pass (issue 17). Minimodels of one full
// model share its frozen first conv, whose outputs are cached once
// (FirstConvCache); K of them then run as one network: layer0's BatchNorm
// over K·C channels from the shared cache, the 1×1 convolutions as one
// grouped convolution (groups = K), the depthwise convolution over K·S
// channels, BatchNorm over K·S channels, and one rank-1 readout per
// minimodel. The loss is the sum of the K minimodels' losses, so each one's
// gradient is its own.
//
// Each minimodel keeps its own model (its parameters are the leaves the
// concatenated tensors are built from, every step), its own AdamW over
// V1Task's parameter groups (so the optimiser state is the sequential fit's),
// its own batches (V1Task::epoch_batches of its own epoch: slots in
// different epochs gather their own rows), its own schedule (periods,
// learning rate, early stopping, best state restored per period) and its own
// BatchNorm statistics. A minimodel whose schedule ends leaves the pass
// (its file is written then) and the next neuron takes its slot. The result
// is the sequential fit's (train_v1 one neuron after another) within float
// rounding: tests/train/test_minimodel_batch.cpp.
#include <cstddef>
#include <functional>
#include <string>

#include "fovea/train/v1_experiment.h"

namespace fovea::train {

// Why the minimodels of `setup` cannot be trained in one pass ("" : they
// can): the pass computes the minimodel architecture only (a cached frozen
// first conv with BN and 2×2 max pooling, one depthwise-separable layer
// without the second 1×1 conv, BN in both layers, a rank-1 readout) with
// the periods schedule, AdamW and float32. `cache` is the first conv's cache
// the setup's task made (null: none, e.g. with the reference kernels).
std::string batched_minimodels_unsupported(const V1TrainingSetup& setup, const FirstConvCache* cache);

// The setup of minimodel `index` (v1_training_setup of its one-neuron data),
// made when a slot takes it.
using MinimodelSetupFactory = std::function<V1TrainingSetup(size_t index)>;
// Called once per minimodel when its schedule is done: the model (CPU, eval
// mode, best state, provenance recorded) and its result.
using MinimodelFinished = std::function<void(size_t index, V1TrainingRun run)>;

// Trains minimodels 0 .. count−1, at most `slots` at a time, all with the
// same recipe and data (their setups must differ only in the neuron). Throws
// fovea::Error when a setup is unsupported (check with
// batched_minimodels_unsupported first) or a loss diverges before any epoch
// finished, as train_v1 does.
void fit_minimodels_batched(size_t count, int64_t slots, const MinimodelSetupFactory& make_setup,
                            const MinimodelFinished& finished, bool show_progress = true);

}  // namespace fovea::train
