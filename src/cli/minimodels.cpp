// fovea minimodels --full-model M --data D --neurons LIST: one minimodel per neuron (api::minimodels).
#include <iomanip>
#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "cli/v1_data_options.h"
#include "fovea/api/minimodels.h"
#include "fovea/error.h"

namespace fovea::cli {

namespace {
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
}  // namespace

void add_minimodels_command(CLI::App& app) {
  struct Args {
    api::MinimodelsOptions minimodels;
    std::string neurons;
    RuntimeOptions runtime;
  };
  auto args = std::make_shared<Args>();
  auto& o = args->minimodels;
  auto* cmd = app.add_subcommand("minimodels", "fit per-neuron minimodels from a full model's first layer");
  cmd->add_option("--full-model", o.full_model, "trained full model: .safetensors, minimodel .pt, URL")->required();
  add_v1_data_options(cmd, o.data);
  cmd->add_option("--neurons", args->neurons, "neurons to fit, e.g. 3,7,10-12")->required();
  cmd->add_option("--config", o.config, "YAML overriding the minimodel recipe (model/training sections)");
  cmd->add_option("overrides", o.overrides, "key=value overrides, e.g. training.hoyer_square=0.01");
  cmd->add_option("-o,--output", o.output, "output directory")->capture_default_str();
  cmd->add_flag("--resume", o.resume, "keep the minimodels already in the output directory (a killed run), fit the rest");
  cmd->add_option("--batch-minimodels", o.batch_minimodels,
                  "minimodels trained together in one pass (1: one after another)")
      ->capture_default_str();
  cmd->add_flag("-q,--quiet", o.quiet, "no progress bar");
  add_runtime_options(cmd, args->runtime);
  cmd->callback([args] {
    apply_runtime_options(args->runtime);
    auto& o = args->minimodels;
    o.neurons = parse_neuron_list(args->neurons);
    o.device = args->runtime.device;
    o.seed = args->runtime.seed;
    const auto r = api::minimodels(o);
    std::cout << std::setw(8) << "neuron" << std::setw(8) << "FEV" << std::setw(12) << "FEVE full" << std::setw(12)
              << "FEVE mini" << std::setw(16) << "channels used\n";
    for (const auto& row : r.rows)
      std::cout << std::setw(8) << row.neuron << std::setw(8) << std::setprecision(3) << std::fixed << row.fev
                << std::setw(12) << row.feve_full << std::setw(12) << row.feve_minimodel << std::setw(10)
                << row.channels_used << "/" << row.channels << "\n";
    std::cout << "wrote " << o.output << "/summary.csv\n";
  });
}

}  // namespace fovea::cli
