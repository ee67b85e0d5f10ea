#pragma once
// The weight figures of openretina's documentation, one call each (seed
// listing "weight visualisation"):
//
//   conv_layer_figure = model.core.plot_weight_visualization(layer=0, in_channel=1, out_channel=0)
//   session_key = model.readout.readout_keys()[0]
//   readout_figure = model.readout[session_key].plot_weight_for_neuron(5)
//
// becomes
//
//   viz::Figure conv = viz::plot_weight_visualization(*model, 0, 1, 0);
//   viz::Figure readout = viz::plot_weight_for_neuron(*model, model->readout_keys()[0], 5);
//
// The figures are returned, not saved (Figure::save writes them). Unlike
// openretina on the CPU, drawing never writes the centre-positive sign flip
// back into the model.
#include <cstdint>
#include <string>

#include "fovea/nn/model.h"
#include "fovea/viz/figure.h"

namespace fovea::viz {

// Channel (in_channel → out_channel) of core layer `layer`, drawn as
// STSeparableBatchConv3d.plot_weights (weight_figures.h) for retina cores;
// V1 cores draw output channel `out_channel` (in_channel must still exist).
// Layers count as in save_weight_visualizations (an ensemble's members one
// after the other). fovea::Error naming the layer count when the layer does
// not exist (openretina's ValueError), and for channels out of range.
Figure plot_weight_visualization(const nn::Model& model, int64_t layer, int64_t in_channel, int64_t out_channel);

// Neuron `neuron` of session `session` (the readout's figure: mask and feature
// weights for the Gaussian readouts, as GaussianMaskReadout.plot_weight_for_neuron).
// "" names a single-session readout. fovea::Error for an unknown session
// (listing the known ones) or a neuron out of range (openretina's IndexError).
Figure plot_weight_for_neuron(const nn::Model& model, const std::string& session, int64_t neuron);

}  // namespace fovea::viz
