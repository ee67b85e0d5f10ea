#pragma once
// `fovea simulate v1|retina DIR`: a dataset from a ground-truth population
// model, so that fitted models can be scored against the truth. The options
// are the simulators' (data/simulate_*.h: same fields and defaults as the
// flags) plus the output directory.
#include <string>

#include "fovea/data/simulate_retina.h"
#include "fovea/data/simulate_v1.h"

namespace fovea::api {

struct SimulateV1Options : data::SimulateV1Options {
  std::string dir;  // output directory (created if needed)
};
// images.npy, responses.npz, ground_truth.npz, README.txt in minimodel's layout.
data::SimulateV1Summary simulate_v1(const SimulateV1Options& options);

struct SimulateRetinaOptions : data::SimulateRetinaOptions {
  std::string dir;
};
// openretina's generic HDF5 layout, with the noise-free test responses in ground_truth/.
data::SimulateRetinaSummary simulate_retina(const SimulateRetinaOptions& options);

}  // namespace fovea::api
