#include "fovea/api/create_data.h"

#include "fovea/error.h"

namespace fovea::api {

CreateDataResult create_data(const CreateDataOptions& options) {
  if (options.dir.empty()) fail("create-data", "no output directory given");
  data::create_data(options.dir, options);
  return {options.dir, options.num_stimuli, options.num_sessions};
}

}  // namespace fovea::api
