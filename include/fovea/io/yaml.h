#pragma once
// YAML read into JSON (yaml-cpp): the run presets and the YAML files of the
// reference systems (the Höfling ensemble's config_<id>.yaml). Scalars become
// null, bools, ints, doubles or strings (quoted scalars stay strings);
// sequences of any tag, such as PyYAML's `!!python/tuple`, become arrays.
#include <nlohmann/json.hpp>

#include <string>

namespace fovea::io {

// fovea::Error "<origin>: invalid YAML at line N: ..." on a syntax error, and
// on text that holds more than one document (yaml-cpp's reading of a block
// whose indentation falls below its first line's).
nlohmann::json parse_yaml(const std::string& text, const std::string& origin);

}  // namespace fovea::io
