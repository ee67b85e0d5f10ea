// `fovea simulate <kind> DIR`: write a dataset from a ground-truth population
// model. One subcommand per kind (v1 here); a new kind adds one
// add_simulate_<kind> function and one line in add_simulate_command.
#include <cstdio>
#include <memory>
#include <sstream>
#include <string>

#include "cli/commands.h"
#include "fovea/data/simulate_v1.h"

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
  struct Arguments {
    std::string dir;
    data::SimulateV1Options options;
  };
  auto args = std::make_shared<Arguments>();
  data::SimulateV1Options& o = args->options;
  CLI::App* v1 = simulate.add_subcommand(
      "v1", "V1 simple and complex cells (Gabor models) on natural-like images, in minimodel's layout "
            "(images.npy, responses.npz, ground_truth.npz)");
  v1->add_option("dir", args->dir, "output directory (created if needed)")->required();
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
    const data::SimulateV1Summary summary = data::simulate_v1(args->dir, args->options);
    const data::SimulateV1Options& o = args->options;
    std::string files;
    for (const std::string& file : summary.files) files += (files.empty() ? "" : ", ") + file;
    std::printf("wrote %s: %lld neurons, %lld training images, %lld test images x %lld repeats; "
                "mean FEV of the test set %.3f\n",
                files.c_str(), static_cast<long long>(summary.n_neurons), static_cast<long long>(o.n_train_images),
                static_cast<long long>(o.n_test_images), static_cast<long long>(o.n_repeats), summary.mean_fev);
  });
}

}  // namespace

void add_simulate_command(CLI::App& app) {
  CLI::App* simulate =
      app.add_subcommand("simulate", "write a dataset from a ground-truth population model, to score fitted models "
                                     "against the truth");
  simulate->require_subcommand(1);
  add_simulate_v1(*simulate);
}

}  // namespace fovea::cli
