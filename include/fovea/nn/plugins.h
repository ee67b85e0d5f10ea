#pragma once
// Plugins: shared libraries that add user-defined cores and readouts to the
// registry (registry.h) of a program that is already built, e.g. the `fovea`
// command (`fovea --plugin ./libmine.so info model.safetensors`, or
// FOVEA_PLUGINS=./libmine.so:./libother.so).
//
// A plugin is a shared library whose static registration objects
// (CoreRegistration, ReadoutRegistration) run when it is loaded. The rule for
// building one: fovea is a set of STATIC libraries linked into the program, so
// the registry a plugin must reach is the program's own. A plugin therefore
// must NOT link the fovea libraries (it would get a second, private registry
// that the program never sees). It is built as a MODULE library against
// fovea's headers and LibTorch only; its fovea symbols (register_core,
// the vtables and typeinfo of Core and Readout, Model, the built-in modules it
// uses) stay undefined and resolve against the program at load time, which
// is why the `fovea` executable exports its symbols (CMake ENABLE_EXPORTS,
// -rdynamic). LibTorch and other shared libraries resolve as usual. In CMake:
//   add_library(mine MODULE mine.cpp)
//   target_include_directories(mine PRIVATE <fovea>/include)
//   target_link_libraries(mine PRIVATE ${TORCH_LIBRARIES} nlohmann_json::nlohmann_json)
// See examples/custom_modules.cpp and examples/CMakeLists.txt.
#include <string>
#include <vector>

namespace fovea::nn {

// Loads the shared library at `path` (dlopen with RTLD_NOW, so a missing
// symbol fails here and not later) and runs its registrations. The built-in
// types are registered first, so a plugin that registers a built-in name
// replaces it. Loading the same path twice does nothing the second time. A
// plugin stays loaded for the life of the program. Throws fovea::Error
// "plugin PATH: <the loader's reason>" when the library cannot be loaded.
void load_plugin(const std::string& path);

// Loads every plugin listed in the environment variable FOVEA_PLUGINS
// (colon-separated paths; empty entries are skipped), in order. Returns the
// paths it loaded.
std::vector<std::string> load_plugins_from_environment();

// The paths of the plugins loaded so far, in load order.
std::vector<std::string> loaded_plugins();

}  // namespace fovea::nn
