// The known keys of V1 run configurations (configs/v1_*.yaml): the sections
// that train_v1 (v1_experiment.cpp) and `fovea train` read, and the keys of
// the V1 cores and readouts (MinimodelCoreOptions::from_json and
// v1_registration.cpp in src/nn/).
#include "config_schema.h"

namespace fovea::train::schema {

const FamilySchema& v1_family() {
  static const Schema data = {
      key("images", Kind::string),     // .mat (key img) or .npy (N, H, W); needed unless mouse + dir
      key("responses", Kind::string),  // .npz; needed unless mouse + dir
      key("mouse", Kind::string),      // minimodel's mouse (FX10, ...): its files in dir by its names
      key("dir", Kind::string),        // the folder of minimodel's published files
      choice("layout", {"monkey_cadena_2019"}),  // minimodel's monkey V1 .npz (in dir, or responses)
      key("textures", Kind::boolean),  // the mouse's text16_*.npz texture responses
      key("fixtrain", Kind::boolean),  // train on istim < 30000 only (minimodel's fixtrain)
      key("neurons", Kind::count_list),     // train on these neurons only (indices in the file)
      key("select_by_fev", Kind::boolean),  // train on neurons with FEV > fev_threshold only
      key("truth", Kind::string),                 // noise-free test rates of simulated data
      key("crop_x", Kind::int_list),
      key("downsample", Kind::number),
      key("normalize_images", Kind::boolean),
      key("fev_threshold", Kind::number),
      key("train_fraction", Kind::number),
  };
  static const Schema model = {
      key("core", Kind::core, Need::run),
      key("readout", Kind::readout, Need::run),
  };
  static const Schema weight_decay = {
      key("core", Kind::number),
      key("spatial", Kind::number),
      key("channels", Kind::number),
      key("bias", Kind::number),
  };
  static const Schema training = {
      key("period_epochs", Kind::count_list),
      key("lr", Kind::number),
      key("period_lr_factor", Kind::number),
      key("batch_size", Kind::positive),
      key("patience", Kind::count),
      key("patience_across_periods", Kind::boolean),
      key("restore_best_each_period", Kind::boolean),
      key("hoyer_square", Kind::number),
      section("weight_decay", weight_decay),
      key("clamp_spatial", Kind::boolean),
      key("first_conv_cache_mb", Kind::count),
      key("ridge_lambda", Kind::number),
      key("checkpoint_every", Kind::count),  // optimiser steps between checkpoints inside epochs (0: epochs only)
      // the forward's precision (precision.h); auto: bf16 only where it measured faster
      choice("precision", {"float32", "bf16", "auto"}),
  };
  static const Schema init = {
      key("first_layer_from", Kind::string),
      key("freeze_first_layer", Kind::boolean),
  };
  static const Schema output = {key("dir", Kind::string)};

  static const FamilySchema family{
      "V1",
      {
          key("family", Kind::string),  // v1 (or absent); the checker picks the family by it
          // output before data: a lost `output:` line is suggested as output.dir, not data.dir.
          section("output", output),
          section("data", data, Need::run),
          section("model", model, Need::run),
          section("training", training),
          section("init", init),
          key("seed", Kind::count),
          key("device", Kind::string),
      },
      {
          {"minimodel_core",
           {
               key("in_channels", Kind::positive),
               key("n_layers", Kind::positive),
               key("n_conv", Kind::positive),
               key("n_conv_mid", Kind::positive),
               key("kernel_size", Kind::count_list),
               choice("activation", {"elu", "relu", "none"}),
               key("pool", Kind::boolean),
               key("avgpool", Kind::boolean),
               key("depth_separable", Kind::boolean),
               key("use_bn", Kind::boolean),
               key("out_1x1", Kind::boolean),
               key("bn_momentum", Kind::number),
           }},
          {"single_conv", {key("channels", Kind::positive), key("kernel_size", Kind::positive)}},
          {"block_average", {key("factor", Kind::positive)}},
      },
      {
          {"rank1", {key("n_neurons", Kind::from_data), key("Wc_coef", Kind::number), key("bias", Kind::boolean)}},
          {"ridge", {key("n_neurons", Kind::from_data)}},
      },
  };
  return family;
}

}  // namespace fovea::train::schema
