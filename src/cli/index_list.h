#pragma once
// Lists of indices on the command line: "3", "0,4,7", "0-9" or a mix ("0-3,8").
#include <cstdint>
#include <string>
#include <vector>

namespace fovea::cli {

// fovea::Error naming `option` for anything else (negative, reversed ranges, junk).
std::vector<int64_t> parse_index_list(const std::string& text, const std::string& option);

}  // namespace fovea::cli
