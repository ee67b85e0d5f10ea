// `fovea simulate <kind> DIR`: write a dataset from a ground-truth population
// model. One subcommand per kind (v1, retina); a new kind adds one
// add_simulate_<kind> function and one line in add_simulate_command.
#include <cstdio>
#include <memory>
#include <sstream>
#include <string>

#include "cli/commands.h"
#include "fovea/api/simulate.h"

namespace fovea::cli {
namespace {

// A numeric option's lower bound, shown in --help as ">= n".
template <typename T>
CLI::Validator at_least(T minimum) {
  std::ostringstream bound;
  bound << minimum;
  return CLI::Validator(
      [minimum, text = bound.str()](std::string& value) -> std::string {
        T parsed{};
        if (!CLI::detail::lexical_cast(value, parsed) || !(parsed >= minimum))
          return "must be a number of at least " + text + ", got " + value;
        return std::string();
      },
      ">= " + bound.str(), "AT_LEAST");
}

void add_simulate_v1(CLI::App& simulate) {
  auto args = std::make_shared<api::SimulateV1Options>();
  api::SimulateV1Options& o = *args;
  CLI::App* v1 = simulate.add_subcommand(
      "v1", "V1 simple and complex cells (Gabor models) on natural-like images, in minimodel's layout "
            "(images.npy, responses.npz, ground_truth.npz)");
  v1->add_option("dir", o.dir, "output directory (created if needed)")->required();
  v1->add_option("--neurons", o.n_neurons, "number of neurons")->capture_default_str()->check(at_least<int64_t>(1));
  v1->add_option("--train-images", o.n_train_images, "training images, each shown once")
      ->capture_default_str()
      ->check(at_least<int64_t>(1));
  v1->add_option("--test-images", o.n_test_images, "test images, each shown --repeats times")
      ->capture_default_str()
      ->check(at_least<int64_t>(2));
  v1->add_option("--repeats", o.n_repeats, "repeats of each test image")
      ->capture_default_str()
      ->check(at_least<int64_t>(2));
  v1->add_option("--height", o.height, "image height in pixels")->capture_default_str()->check(at_least<int64_t>(16));
  v1->add_option("--width", o.width, "image width in pixels")->capture_default_str()->check(at_least<int64_t>(16));
  v1->add_option("--complex-fraction", o.complex_fraction, "share of complex (Gabor-energy) cells")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  v1->add_option("--noise", o.noise_scale, "multiplies the trial-to-trial noise (0: noise-free trials)")
      ->capture_default_str()
      ->check(at_least(0.0));
  v1->add_option("--seed", o.seed, "seed of every random draw; the same seed gives the same files")
      ->capture_default_str();

  v1->callback([args]() {
    const data::SimulateV1Summary summary = api::simulate_v1(*args);
    const api::SimulateV1Options& o = *args;
    std::string files;
    for (const std::string& file : summary.files) files += (files.empty() ? "" : ", ") + file;
    std::printf("wrote %s: %lld neurons, %lld training images, %lld test images x %lld repeats; "
                "mean FEV of the test set %.3f\n",
                files.c_str(), static_cast<long long>(summary.n_neurons), static_cast<long long>(o.n_train_images),
                static_cast<long long>(o.n_test_images), static_cast<long long>(o.n_repeats), summary.mean_fev);
  });
}

void add_simulate_retina(CLI::App& simulate) {
  auto args = std::make_shared<api::SimulateRetinaOptions>();
  api::SimulateRetinaOptions& o = *args;
  CLI::App* retina = simulate.add_subcommand(
      "retina", "retinal ganglion cells (ON/OFF, sustained/transient, colour-opponent; centre-surround, biphasic) "
                "on coloured noise or natural-like movies, in openretina's generic HDF5 layout, with the "
                "noise-free test responses in ground_truth/");
  retina->add_option("dir", o.dir, "output directory (created if needed)")->required();
  retina->add_option("--sessions", o.n_sessions, "number of sessions (recordings)")
      ->capture_default_str()
      ->check(at_least<int64_t>(1));
  retina->add_option("--neurons-per-session", o.neurons_per_session,
                     "neurons recorded per session: one count for all, or one per session (30,40,...)")
      ->delimiter(',')
      ->capture_default_str()
      ->check(at_least<int64_t>(1));
  retina->add_option("--stimulus", o.stimulus, "noise (temporally correlated coloured noise) or natural "
                                               "(drifting natural-like scenes)")
      ->capture_default_str()
      ->check(CLI::IsMember({"noise", "natural"}));
  retina->add_option("--height", o.height, "frame height in pixels")->capture_default_str()->check(at_least<int64_t>(4));
  retina->add_option("--width", o.width, "frame width in pixels")->capture_default_str()->check(at_least<int64_t>(4));
  retina->add_option("--colors", o.colors, "colour channels")->capture_default_str()->check(CLI::Range(1, 8));
  retina->add_option("--train-frames", o.train_frames, "frames of the training movie (30 Hz)")
      ->capture_default_str()
      ->check(at_least<int64_t>(8));
  retina->add_option("--test-frames", o.test_frames, "frames of the test movie, shown --repeats times")
      ->capture_default_str()
      ->check(at_least<int64_t>(2));
  retina->add_option("--repeats", o.n_repeats, "repeats of the test movie")
      ->capture_default_str()
      ->check(at_least<int64_t>(2));
  retina->add_option("--filter-frames", o.filter_frames, "length of the temporal filters in frames")
      ->capture_default_str()
      ->check(at_least<int64_t>(8));
  retina->add_option("--noise", o.noise_scale, "multiplies the Poisson noise's std (0: noise-free trials)")
      ->capture_default_str()
      ->check(at_least(0.0));
  retina->add_option("--seed", o.seed, "seed of every random draw; the same seed gives the same files")
      ->capture_default_str();

  retina->callback([args]() {
    const data::SimulateRetinaSummary summary = api::simulate_retina(*args);
    const api::SimulateRetinaOptions& o = *args;
    std::string neurons, fev;
    for (size_t s = 0; s < summary.sessions.size(); ++s) {
      neurons += (s ? ", " : "") + std::to_string(summary.n_neurons[s]);
      char value[32];
      std::snprintf(value, sizeof(value), "%s%.3f", s ? ", " : "", summary.mean_fev[s]);
      fev += value;
    }
    std::printf("wrote %s: %zu sessions (%s neurons; %lld distinct cells), %lld training frames, %lld test frames "
                "x %lld repeats; mean FEV of the test repeats per session %s\n",
                o.dir.c_str(), summary.sessions.size(), neurons.c_str(), static_cast<long long>(summary.n_cells),
                static_cast<long long>(o.train_frames), static_cast<long long>(o.test_frames),
                static_cast<long long>(o.n_repeats), fev.c_str());
  });
}

}  // namespace

void add_simulate_command(CLI::App& app) {
  CLI::App* simulate =
      app.add_subcommand("simulate", "write a dataset from a ground-truth population model, to score fitted models "
                                     "against the truth");
  simulate->require_subcommand(1);
  add_simulate_v1(*simulate);
  add_simulate_retina(*simulate);
}

}  // namespace fovea::cli
