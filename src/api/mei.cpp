#include "fovea/api/mei.h"

#include <torch/torch.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "fovea/api/runtime.h"
#include "fovea/error.h"
#include "fovea/io/atomic_file.h"
#include "fovea/nn/model_loader.h"
#include "fovea/nn/predict.h"

namespace fovea::api {

namespace fs = std::filesystem;

namespace {

// "lo:hi,lo:hi" (either bound may be empty) -> one range per channel.
insilico::ChannelRanges parse_ranges(const std::string& text) {
  insilico::ChannelRanges ranges;
  std::stringstream parts(text);
  std::string part;
  auto bound = [&](const std::string& s) -> std::optional<double> {
    if (s.empty()) return std::nullopt;
    try {
      size_t used = 0;
      const double v = std::stod(s, &used);
      if (used == s.size()) return v;
    } catch (const std::exception&) {
    }
    fail("--clip", "'" + text + "' is not a list of ranges (expected e.g. -0.654:6.269,-0.913:6.269)");
  };
  while (std::getline(parts, part, ',')) {
    const auto colon = part.find(':');
    if (colon == std::string::npos) fail("--clip", "range '" + part + "' has no ':' (expected min:max)");
    ranges.emplace_back(bound(part.substr(0, colon)), bound(part.substr(colon + 1)));
  }
  return ranges;
}

// Output neurons or inner channels: exactly one of the two.
void check_targets(const MeiOptions& o) {
  const bool inner = !o.layer.empty();
  if (inner == !o.neurons.empty()) fail("fovea mei", "give either --neuron (output neurons) or --layer with --channel");
  if (inner && o.channels.empty()) fail("--channel", "--layer needs --channel (e.g. --channel 0-7)");
}

}  // namespace

MeiRunResult mei(const MeiOptions& options) {
  check_targets(options);
  check_device(options.device);
  return mei(nn::load_any_model(options.model), options);
}

MeiRunResult mei(std::shared_ptr<nn::Model> model, const MeiOptions& o) {
  check_targets(o);
  check_device(o.device);
  const bool inner = !o.layer.empty();
  model->to(torch::Device(o.device));
  insilico::MeiRecipe recipe = o.recipe;
  if (o.hoefling_constraints) {
    const auto h = insilico::hoefling_2024_recipe();
    recipe.norm = h.norm, recipe.ranges = h.ranges;
  }
  if (o.norm) recipe.norm = o.norm;
  if (!o.clip.empty()) recipe.ranges = parse_ranges(o.clip);
  recipe.seed = o.seed;

  std::vector<insilico::MeiResult> results;
  std::string prefix;
  if (inner) {
    // A core with per-session parameters runs with the given session's, else
    // (as openretina's visualize) with the first session's.
    if (!o.session.empty()) nn::check_session(*model, o.session, o.model + " (--session)");
    const std::string session = o.session.empty() ? model->readout_keys().front() : o.session;
    results = insilico::optimize_channel_meis(model, o.layer, o.channels, recipe, session);
    prefix = o.layer + "_channel_";
  } else {
    nn::check_session(*model, o.session, o.model + " (--session)");
    results = insilico::optimize_neuron_meis(model, o.session, o.neurons, recipe);
    prefix = (o.session.empty() ? std::string() : o.session + "_") + "neuron_";
  }

  MeiRunResult r;
  r.output = o.output;
  nlohmann::json summary = {{"model", o.model}, {"session", o.session}, {"layer", o.layer}, {"steps", recipe.steps},
                            {"optimizer", recipe.optimizer}, {"lr", recipe.lr}, {"seed", recipe.seed},
                            {"decrease", recipe.decrease}, {"meis", nlohmann::json::array()}};
  for (auto& result : results) {
    MeiEntry entry;
    entry.stem = prefix + std::to_string(result.target);
    const std::string title =
        (inner ? o.layer + " channel " : (o.session.empty() ? "" : o.session + " ") + "neuron ") +
        std::to_string(result.target) + (recipe.decrease ? ": most depressing input" : ": MEI");
    entry.files = viz::save_mei(result, o.output, entry.stem, title, o.out);
    summary["meis"].push_back({{"target", result.target},
                               {"start_objective", result.start_objective},
                               {"final_objective", result.final_objective},
                               {"stimulus", entry.files.stimulus},
                               {"video", entry.files.video},
                               {"figure", entry.files.figure}});
    entry.result = std::move(result);
    r.meis.push_back(std::move(entry));
    if (o.progress)
      o.progress({"mei", static_cast<int64_t>(r.meis.size()), static_cast<int64_t>(results.size()),
                  {{"start_objective", r.meis.back().result.start_objective},
                   {"final_objective", r.meis.back().result.final_objective}}});
  }
  r.summary_json = (fs::path(o.output) / "mei.json").string();
  io::write_file_atomic(r.summary_json, summary.dump(2) + "\n");
  return r;
}

}  // namespace fovea::api
