// fovea minimodels --full-model M --data D --neurons LIST: one minimodel per neuron.
#include <torch/torch.h>

#include <iomanip>
#include <iostream>

#include "cli/commands.h"
#include "cli/v1_data_options.h"
#include "fovea/error.h"
#include "fovea/nn/model_file.h"
#include "fovea/nn/model_loader.h"
#include "fovea/train/config.h"
#include "fovea/train/config_check.h"
#include "fovea/train/minimodels.h"

namespace fovea::cli {

namespace {
struct MinimodelArgs {
  std::string full_model, config, output = "minimodels";
  std::string neurons;
  std::vector<std::string> overrides;
  V1DataOptions data;
  RuntimeOptions runtime;
  bool quiet = false;
};

// "3,7,10-12" -> {3, 7, 10, 11, 12}
std::vector<int64_t> parse_neuron_list(const std::string& text) {
  std::vector<int64_t> out;
  std::stringstream ss(text);
  std::string part;
  while (std::getline(ss, part, ',')) {
    try {
      const auto dash = part.find('-', 1);
      if (dash == std::string::npos) {
        size_t pos = 0;
        out.push_back(std::stoll(part, &pos));
        if (pos != part.size()) throw std::invalid_argument(part);
      } else {
        const int64_t a = std::stoll(part.substr(0, dash)), b = std::stoll(part.substr(dash + 1));
        if (b < a) throw std::invalid_argument(part);
        for (int64_t i = a; i <= b; ++i) out.push_back(i);
      }
    } catch (const std::exception&) {
      fail("--neurons", "expected a list like 3,7,10-12, got '" + text + "'");
    }
  }
  if (out.empty()) fail("--neurons", "no neurons listed");
  return out;
}

void run_minimodels(MinimodelArgs& a) {
  auto full = nn::load_any_model(a.full_model);
  a.data.resolve();
  train::Json config = train::default_minimodel_config(*full);
  if (!a.config.empty()) config.merge_patch(train::load_config(a.config));
  for (const auto& o : a.overrides) train::apply_override(config, o);
  config["seed"] = a.runtime.seed;
  config["device"] = a.runtime.device;
  config["data"] = full->spec().value("data", train::Json::object());
  config["data"]["images"] = a.data.images;
  config["data"]["responses"] = a.data.responses;
  // The recipe with the full model's data options, checked before the data is read.
  train::validate_config(config, a.config.empty() ? "minimodel recipe" : a.config, a.overrides);
  auto dataset = data::load_v1_dataset(a.data.load_options_for(*full));
  auto rows = train::fit_minimodels(*full, a.full_model, dataset, parse_neuron_list(a.neurons), config, a.output,
                                    !a.quiet);
  std::cout << std::setw(8) << "neuron" << std::setw(8) << "FEV" << std::setw(12) << "FEVE full" << std::setw(12)
            << "FEVE mini" << std::setw(16) << "channels used\n";
  for (const auto& r : rows)
    std::cout << std::setw(8) << r.neuron << std::setw(8) << std::setprecision(3) << std::fixed << r.fev
              << std::setw(12) << r.feve_full << std::setw(12) << r.feve_minimodel << std::setw(10)
              << r.channels_used << "/" << r.channels << "\n";
  std::cout << "wrote " << a.output << "/summary.csv\n";
}
}  // namespace

void add_minimodels_command(CLI::App& app) {
  auto args = std::make_shared<MinimodelArgs>();
  auto* cmd = app.add_subcommand("minimodels", "fit per-neuron minimodels from a full model's first layer");
  cmd->add_option("--full-model", args->full_model, "trained full model: .safetensors, minimodel .pt, URL")->required();
  args->data.add_to(cmd);
  cmd->add_option("--neurons", args->neurons, "neurons to fit, e.g. 3,7,10-12")->required();
  cmd->add_option("--config", args->config, "YAML overriding the minimodel recipe (model/training sections)");
  cmd->add_option("overrides", args->overrides, "key=value overrides, e.g. training.hoyer_square=0.01");
  cmd->add_option("-o,--output", args->output, "output directory")->capture_default_str();
  cmd->add_flag("-q,--quiet", args->quiet, "no progress bar");
  add_runtime_options(cmd, args->runtime);
  cmd->callback([args] {
    apply_runtime_options(args->runtime);
    run_minimodels(*args);
  });
}

}  // namespace fovea::cli
