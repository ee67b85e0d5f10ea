#pragma once
// `fovea create-data DIR`: openretina's synthetic dataset in its generic HDF5 layout.
#include <string>

#include "fovea/data/create_data.h"

namespace fovea::api {

struct CreateDataOptions : data::CreateDataOptions {
  std::string dir;  // output directory
};
struct CreateDataResult {
  std::string dir;
  int64_t num_stimuli = 0, num_sessions = 0;
};
CreateDataResult create_data(const CreateDataOptions& options);

}  // namespace fovea::api
