#include "fovea/api/simulate.h"

#include "fovea/error.h"

namespace fovea::api {

data::SimulateV1Summary simulate_v1(const SimulateV1Options& options) {
  if (options.dir.empty()) fail("simulate v1", "no output directory given");
  return data::simulate_v1(options.dir, options);
}

data::SimulateRetinaSummary simulate_retina(const SimulateRetinaOptions& options) {
  if (options.dir.empty()) fail("simulate retina", "no output directory given");
  return data::simulate_retina(options.dir, options);
}

}  // namespace fovea::api
