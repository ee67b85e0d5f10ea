// The known keys of retina run configurations (family: retina,
// configs/retina_*.yaml): the sections that train_retina and
// retina_data_options (retina_experiment.cpp) read, and the keys of the retina
// cores and readouts (the from_json functions of src/nn/: retina_core.cpp,
// legacy_core.cpp, gaussian_mask_readout.cpp, factorized_readout.cpp,
// point_gaussian_readout.cpp, lnp.cpp; retina_variants_registration.cpp).
#include "config_schema.h"

namespace fovea::train::schema {

namespace {

Schema gaussian_mask_keys() {
  return {
      key("n_neurons_dict", Kind::from_data),
      key("mean_activity_dict", Kind::from_data),
      key("scale", Kind::boolean),
      key("bias", Kind::boolean),
      key("gaussian_mean_scale", Kind::number),
      key("gaussian_var_scale", Kind::number),
      key("positive", Kind::boolean),
      key("mask_l1_reg", Kind::number),
      key("feature_weights_l1_reg", Kind::number),
      key("legacy_scale_name", Kind::boolean),
  };
}

Schema factorized_keys() {
  return {
      key("n_neurons_dict", Kind::from_data),
      key("mean_activity_dict", Kind::from_data),
      key("mask_l1_reg", Kind::number),
      key("weights_l1_reg", Kind::number),
      key("laplace_mask_reg", Kind::number),
      key("readout_bias", Kind::boolean),
      choice("weights_constraint", {"abs", "norm", "absnorm"}),
      choice("mask_constraint", {"abs"}),
      key("init_mask", Kind::any),     // a tensor as nested lists
      key("init_weights", Kind::any),
      key("init_scales", Kind::number_pairs),
      key("readout_reg_avg", Kind::boolean),
      key("legacy_klindt", Kind::boolean),
  };
}

}  // namespace

const FamilySchema& retina_family() {
  // layout hoefling_2024: openretina's quality_checks/hoefling_2024.yaml
  static const Schema hoefling_quality_checks = {
      key("filter_cell_types", Kind::boolean),
      key("cell_types_list", Kind::count_list),
      key("chirp_qi", Kind::number),
      key("d_qi", Kind::number),
      choice("qi_logic", {"or", "and"}),
      key("filter_counts", Kind::boolean),
      key("count_threshold", Kind::count),
      key("classifier_confidence", Kind::number),
  };
  // layout sridhar_2025: get_trial_wise_validation_split's hard_coded (train, validation)
  static const Schema sridhar_hard_coded = {
      key("train", Kind::count_list, Need::run),
      key("validation", Kind::count_list, Need::run),
  };
  static const Schema data = {
      choice("layout", {"hdf5", "maheswaranathan_2023", "hoefling_2024", "karamanlis_2024", "goldin_2022",
                         "sridhar_2025"}),
      key("movies_path", Kind::string),
      key("responses_path", Kind::string),
      key("chirp_path", Kind::string),       // hoefling_2024: the chirp pickle, an extra test stimulus
      key("moving_bar_path", Kind::string),  // hoefling_2024: the moving-bar pickle, likewise
      section("quality_checks", hoefling_quality_checks),
      choice("trace_type", {"spikes", "raw", "preprocessed", "detrended"}),
      key("scale_traces", Kind::number),
      key("dir", Kind::string, Need::run),
      key("response_type", Kind::string),
      key("stim_type", Kind::string),
      choice("species", {"mouse", "marmoset", "axolotl"}),  // axolotl: goldin_2022
      key("downsampled_size", Kind::count_list),
      key("fr_normalization", Kind::number),
      key("test_names", Kind::string_list),
      key("stimulus_size", Kind::count_list),
      key("norm_mean", Kind::number),
      key("norm_std", Kind::number),
      key("clip_length", Kind::positive),
      key("num_val_clips", Kind::count),
      key("val_clip_indices", Kind::count_list),
      key("split_seed", Kind::count),
      // layout sridhar_2025 (include/fovea/data/sridhar_dataset.h)
      choice("stimulus", {"natural_movie", "whitenoise"}),
      key("sessions", Kind::string_list),
      key("cell_index", Kind::integer),
      key("excluded_cells", Kind::mapping),
      key("stimulus_seed", Kind::count),
      key("train_frac", Kind::number),
      key("fixation_files", Kind::mapping),
      key("flip_imgs", Kind::boolean),
      key("extra_frame", Kind::count),
      key("final_training", Kind::boolean),
      section("hard_coded", sridhar_hard_coded),
      key("get_locations", Kind::boolean),
      key("sta_dir", Kind::string),
  };
  static const Schema model = {
      key("hidden_channels", Kind::count_list),
      key("core", Kind::core, Need::run),
      key("readout", Kind::readout, Need::run),
  };
  // PyTorch's scheduler arguments (and Lightning's interval, frequency) of
  // the scheduler training.lr_schedule names (optimizer_config.cpp).
  static const Schema lr_scheduler = {
      choice("interval", {"epoch", "step"}),
      key("frequency", Kind::positive),
      key("step_size", Kind::positive),
      key("milestones", Kind::count_list),
      key("gamma", Kind::number),
      key("T_max", Kind::positive),
      key("eta_min", Kind::number),
      key("T_0", Kind::positive),
      key("T_mult", Kind::positive),
      key("max_lr", Kind::number),
      key("total_steps", Kind::count),
      key("pct_start", Kind::number),
      choice("anneal_strategy", {"cos", "linear"}),
      key("cycle_momentum", Kind::boolean),
      key("base_momentum", Kind::number),
      key("max_momentum", Kind::number),
      key("div_factor", Kind::number),
      key("final_div_factor", Kind::number),
      key("three_phase", Kind::boolean),
  };
  static const Schema training = {
      key("lr", Kind::number),
      key("weight_decay", Kind::number),
      key("batch_size", Kind::positive),
      key("chunk_size", Kind::positive),
      key("drop_last", Kind::boolean),
      key("max_epochs", Kind::count),
      choice("lr_schedule", {"plateau", "periods", "one_cycle", "cosine_annealing", "cosine_annealing_warm_restarts",
                             "step", "multi_step", "exponential"}),
      section("lr_scheduler", lr_scheduler),
      choice("optimizer", {"adamw", "sgd"}),
      key("momentum", Kind::number),
      key("dampening", Kind::number),
      key("nesterov", Kind::boolean),
      key("betas", Kind::number_list),
      key("eps", Kind::number),
      key("accumulate_grad_batches", Kind::positive),
      choice("loss", {"poisson", "l1_poisson", "mse", "correlation"}),
      key("gamma_l1", Kind::number),
      key("loss_avg", Kind::boolean),
      // what early stopping, the best state and the plateau scheduler follow
      choice("validation_score", {"correlation", "poisson_loss"}),
      key("period_epochs", Kind::count_list),
      key("plateau_factor", Kind::number),
      key("plateau_patience", Kind::count),
      key("plateau_threshold", Kind::number),
      key("min_lr", Kind::number),
      key("patience", Kind::count),
      key("min_delta", Kind::number),
      key("grad_clip_norm", Kind::number),
      key("checkpoint_every", Kind::count),  // optimiser steps between checkpoints inside epochs (0: epochs only)
      // the forward's precision (precision.h); auto: bf16 only where it measured faster
      choice("precision", {"float32", "bf16", "auto"}),
  };
  static const Schema output = {key("dir", Kind::string)};
  // Fine-tuning, at openretina's places (train.py): paths.load_model_path and
  // a top-level only_train_readout (src/train/transfer.cpp).
  static const Schema paths = {key("load_model_path", Kind::string)};

  static const FamilySchema family{
      "retina",
      {
          key("family", Kind::string),
          section("paths", paths),
          key("only_train_readout", Kind::boolean),
          section("data", data, Need::run),
          section("model", model, Need::run),
          section("training", training),
          section("output", output),
          key("seed", Kind::count),
          key("device", Kind::string),
      },
      {
          {"simple_core_wrapper",
           {
               key("channels", Kind::count_list),  // (input, hidden...): or model.hidden_channels
               key("temporal_kernel_sizes", Kind::count_list),
               key("spatial_kernel_sizes", Kind::count_list),
               key("gamma_input", Kind::number),
               key("gamma_temporal", Kind::number),
               key("gamma_in_sparse", Kind::number),
               key("gamma_hidden", Kind::number),
               key("dropout_rate", Kind::number),
               key("cut_first_n_frames", Kind::count),
               choice("convolution_type", {"custom_separable", "separable", "full", "time_independent"}),
               key("maxpool_every_n_layers", Kind::bool_or_count),
               key("maxpool", Kind::bool_or_count),
               key("downsample_input_kernel_size", Kind::count_list),
               key("color_squashing_weights", Kind::number_list),
               key("input_padding", Kind::padding),
               key("hidden_padding", Kind::padding),
           }},
          {"dummy_core", {key("cut_first_n_frames", Kind::count)}},
          {"ensemble", {key("members", Kind::core_list)}},
          {"parametric_factorized_batch_conv3d",
           {
               key("input_channels", Kind::positive),
               key("layers", Kind::positive),
               key("hidden_channels", Kind::count_or_list),
               key("temporal_kernel_size", Kind::count_or_list),
               key("spatial_kernel_size", Kind::count_or_list),
               key("input_padding", Kind::boolean),
               key("hidden_padding", Kind::boolean),
               key("core_bias", Kind::boolean),
               key("batch_norm", Kind::boolean),
               key("batch_norm_scale", Kind::boolean),
               key("momentum", Kind::number),
               key("final_nonlinearity", Kind::boolean),
               key("nonlinearity", Kind::string),
               key("conv_type", Kind::string),
               key("stack", Kind::integer),
               key("sessions", Kind::string_list),
               key("gamma_input", Kind::number),
               key("gamma_temporal", Kind::number),
               key("gamma_in_sparse", Kind::number),
               key("gamma_hidden", Kind::number),
           }},
      },
      {
          {"gaussian_mask", gaussian_mask_keys()},
          {"spatial_x_feature_3d", gaussian_mask_keys()},
          {"factorized", factorized_keys()},
          {"klindt", factorized_keys()},
          {"point_gaussian",
           {
               key("n_neurons_dict", Kind::from_data),
               key("mean_activity_dict", Kind::from_data),
               key("bias", Kind::boolean),
               key("init_mu_range", Kind::number),
               key("init_sigma_range", Kind::number),
               key("batch_sample", Kind::boolean),
               key("align_corners", Kind::boolean),
               choice("gauss_type", {"full", "uncorrelated", "isotropic"}),
               key("gamma", Kind::number),
               key("gamma_readout", Kind::number),
               key("reg_avg", Kind::boolean),
               key("nonlinearity_function", Kind::name),
               key("nonlinearity", Kind::name),
               // openretina options fovea does not support: accepted when null (the builder says so otherwise)
               key("grid_mean_predictor", Kind::any),
               key("shared_features", Kind::any),
               key("shared_grid", Kind::any),
               key("init_grid", Kind::any),
           }},
          {"lnp",
           {
               key("n_neurons_dict", Kind::from_data),
               key("mean_activity_dict", Kind::from_data),
               key("smooth_weight", Kind::number),
               key("sparse_weight", Kind::number),
               choice("smooth_regularizer", {"LaplaceL2norm", "GaussianLaplaceL2"}),
               key("laplace_padding", Kind::integer),
               key("nonlinearity", Kind::name),
               key("bias", Kind::boolean),
               key("temporal_kernel_size", Kind::positive),
           }},
          {"single_cell_separated_lnp",
           {
               key("n_neurons_dict", Kind::from_data),
               key("mean_activity_dict", Kind::from_data),
               key("in_shape", Kind::count_list),
               key("rf_location", Kind::int_list),
               key("spat_kernel_size", Kind::count_list),
               key("rank", Kind::positive),
               key("smooth_weight_spat", Kind::number),
               key("smooth_weight_temp", Kind::number),
               key("sparse_weight", Kind::number),
               key("smooth_regularizer_spat", Kind::string),
               key("smooth_regularizer_temp", Kind::string),
               key("laplace_padding", Kind::integer),
               key("nonlinearity", Kind::name),
               key("normalize_weights", Kind::boolean),
               key("fit_gaussian", Kind::boolean),
           }},
          {"ensemble", {key("members", Kind::readout_list)}},
      },
  };
  return family;
}

}  // namespace fovea::train::schema
