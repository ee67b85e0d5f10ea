#pragma once
// The known keys of run configurations as data: a Schema is a table of
// key -> what its value must be. One FamilySchema per config family lists
// its sections and, per built-in core and readout type, that type's keys
// (the keys the type's from_json reads in src/nn/). The checker that walks a
// config against these tables is config_check.cpp.
#include <map>
#include <string>
#include <vector>

namespace fovea::train::schema {

enum class Kind {
  boolean,
  integer,
  count,            // an integer >= 0
  positive,         // an integer >= 1
  number,           // an integer or a float
  string,           // one of `choices` when they are given
  int_list,         // [1, -2]
  count_list,       // [100, 30]: integers >= 0
  number_list,
  string_list,
  number_pairs,     // [[a, b], [c, d]]
  count_or_list,    // 8 or [8, 16] (one value for every layer)
  bool_or_count,    // true or 2
  padding,          // true/false, "same"/"valid", an integer, or three integers
  name,             // a string, or the object a checkpoint keeps for a Python function
  mapping,          // any mapping (not checked inside)
  any,              // anything (not checked inside)
  section,          // a mapping checked against `fields`
  core,             // {type: <core type>, ...}: checked against the family's core types
  readout,          // {type: <readout type>, ...}
  core_list,        // a list of core specs (ensemble members)
  readout_list,     // a list of readout specs
  from_data,        // set by fovea from the data: giving it is an error
};

enum class Need {
  optional,  // absent or null: the default
  run,       // a training run needs it present and not null
};

struct Field;
using Schema = std::vector<Field>;

struct Field {
  std::string key;
  Kind kind;
  Need need = Need::optional;
  const Schema* fields = nullptr;    // kind == section
  std::vector<std::string> choices;  // kind == string: the allowed values (empty: any)
};

// Shorthands for the tables.
inline Field key(std::string k, Kind kind, Need need = Need::optional) { return {std::move(k), kind, need, nullptr, {}}; }
inline Field choice(std::string k, std::vector<std::string> choices) {
  return {std::move(k), Kind::string, Need::optional, nullptr, std::move(choices)};
}
inline Field section(std::string k, const Schema& fields, Need need = Need::optional) {
  return {std::move(k), Kind::section, need, &fields, {}};
}

struct FamilySchema {
  std::string name;                         // "V1", "retina"
  Schema top;                               // the config's top-level keys
  std::map<std::string, Schema> cores;      // built-in core type -> its keys (besides `type`)
  std::map<std::string, Schema> readouts;   // built-in readout type -> its keys
};

const FamilySchema& v1_family();      // config_keys_v1.cpp
const FamilySchema& retina_family();  // config_keys_retina.cpp

// What a value of this kind is, for messages: "a list of integers >= 0".
std::string describe(const Field& field);

}  // namespace fovea::train::schema
