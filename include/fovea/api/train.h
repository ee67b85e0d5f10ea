#pragma once
// `fovea train --config F [key=value ...]`: fits the model a run
// configuration describes (V1 or retina), writes the model file, the
// per-epoch metrics and the evaluation on the test set, and returns them.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fovea/api/progress.h"
#include "fovea/eval/report.h"
#include "fovea/nn/model.h"
#include "fovea/train/trainer.h"

namespace fovea::api {

struct TrainOptions {
  std::string config;                   // --config: the YAML file (or, with config_text, its name in messages)
  std::string config_text;              // the configuration as YAML/JSON text instead of a file (Python dicts)
  std::vector<std::string> overrides;   // key=value, e.g. training.lr=0.002
  std::string output;                   // -o: output directory; "" : output.dir of the config
  std::optional<uint64_t> seed;         // --seed; unset: the config's seed (or 0)
  std::string device = "cpu";
  // --resume DIR: continue the run whose output folder DIR is, from its last
  // checkpoint, with the configuration it saved (run_config.json); give no
  // config, overrides or seed with it.
  std::string resume;
  bool checkpoint = true;               // write DIR/checkpoint.pt after every epoch
  // --checkpoint-every N: also after every N optimiser steps inside epochs
  // (sets training.checkpoint_every; unset: the config's, else 0 = epochs only).
  std::optional<int64_t> checkpoint_every;
  bool quiet = false;                   // no progress bar on stderr
  // In a data-parallel worker (torchrun's environment: WORLD_SIZE, RANK, ...;
  // `fovea train --nproc-per-node N` sets it): BatchNorm with the global
  // batch's statistics (SyncBatchNorm), or each worker's own (DDP's default).
  bool sync_batch_norm = true;
  ProgressCallback progress;            // per epoch: train_loss, the validation score, its best so far, lr
};

struct TrainResult {
  std::shared_ptr<nn::Model> model;     // the trained model (best validation state), eval mode
  std::string family;                   // "v1" or "retina"
  uint64_t seed = 0;                    // the seed the run used
  std::string output_dir, model_path, metrics_csv, eval_csv, eval_json;
  train::TrainingResult training;       // best score and epoch, epochs run, why it stopped
  std::vector<train::EpochRecord> epochs;  // the rows of metrics.csv
  eval::EvaluationReport evaluation;    // on the test set, as eval.csv / eval.json
  double fev_threshold = 0;             // V1: the FEV threshold of the evaluation's included neurons
  // False in a data-parallel worker but rank 0: it trained, and wrote and
  // evaluated nothing (model holds the trained model, evaluation is empty).
  bool wrote_outputs = true;
};

// Reads the configuration once, checks it before anything is read or
// written, seeds every generator, trains and evaluates. The output folder gets
// run_config.json (the configuration as resolved) when training starts and
// checkpoint.pt after every epoch, so a killed run continues with `resume`. The output folder is
// created when the run starts writing and removed again if the run fails
// before writing anything into it.
TrainResult train(const TrainOptions& options);

}  // namespace fovea::api
