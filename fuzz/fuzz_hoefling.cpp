// The Höfling 2024 layout (load_hoefling_2024: src/data/hoefling_*.cpp are
// compiled into the harness). Each input is tried twice: as the responses
// HDF5 next to a fixed valid movie pickle, and as the movie pickle next to a
// fixed valid responses HDF5; so both readers and the code that joins them
// (presentation order, eye flips, clip split) see it.
#include <ATen/ATen.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "fovea/data/hoefling_dataset.h"
#include "harness.h"
#include "hoefling_fuzz_files.h"

namespace {

struct Layout {
  std::string dir, movies, responses, input_pkl, input_h5;
};

const Layout& layout() {
  static const Layout l = [] {
    const char* tmp = std::getenv("TMPDIR");
    Layout x;
    x.dir = std::string(tmp && *tmp ? tmp : "/tmp") + "/fovea_fuzz_hoefling_" + std::to_string(::getpid());
    std::filesystem::create_directories(x.dir);
    x.movies = x.dir + "/movies.pkl";
    x.responses = x.dir + "/responses.h5";
    x.input_pkl = x.dir + "/input.pkl";
    x.input_h5 = x.dir + "/input.h5";
    fovea::fuzz::write_hoefling_movies(x.movies);
    fovea::fuzz::write_hoefling_responses(x.responses);
    return x;
  }();
  return l;
}

void write(const std::string& path, const uint8_t* data, size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Layout& l = layout();
  write(l.input_h5, data, size);
  write(l.input_pkl, data, size);
  fovea::fuzz::run_reader([&] {
    fovea::data::HoeflingOptions o;
    o.movies_path = l.movies;
    o.responses_path = l.input_h5;
    (void)fovea::data::load_hoefling_2024(o);
  });
  return fovea::fuzz::run_reader([&] {
    fovea::data::HoeflingOptions o;
    o.movies_path = l.input_pkl;
    o.responses_path = l.responses;
    (void)fovea::data::load_hoefling_2024(o);
  });
}
