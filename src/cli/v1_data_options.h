#pragma once
// The data options of the V1 commands (--data, --images, --responses,
// --truth), filling api::V1DataFiles; the API resolves and reads them.
#include <CLI/CLI.hpp>

#include "fovea/api/v1_data.h"

namespace fovea::cli {

void add_v1_data_options(CLI::App* command, api::V1DataFiles& files);

}  // namespace fovea::cli
