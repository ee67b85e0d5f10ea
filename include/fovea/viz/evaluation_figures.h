#pragma once
// Figures of how well a model predicts: metric histograms, model-vs-model
// scatter, a neuron's predicted and recorded responses (the tutorial's
// plot_predictions), and the linear receptive field of a ridge model.
#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "fovea/viz/figure.h"

namespace fovea::viz {

// Histogram of one metric over neurons (non-finite values are left out and
// counted in the title), with the median marked.
Figure metric_histogram_figure(const std::vector<double>& values, const std::string& metric, const std::string& title,
                               int bins = 30);

// One point per neuron: model A's metric against model B's, with the diagonal.
Figure model_comparison_figure(const std::vector<double>& a, const std::vector<double>& b, const std::string& a_name,
                               const std::string& b_name, const std::string& metric);

// A neuron's recorded responses (trial average) and the model's prediction,
// over frames (movies) or test stimuli (images), with their correlation.
Figure prediction_figure(const at::Tensor& recorded, const at::Tensor& predicted, const std::string& title,
                         const std::string& xlabel);

// The linear receptive field of a ridge model's neuron: its weights over the
// (block-averaged) image pixels, (h, w), symmetric RdBu_r.
Figure receptive_field_figure(const at::Tensor& weights, const std::string& title);

}  // namespace fovea::viz
