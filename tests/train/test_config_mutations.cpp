// Mutated presets (a line dropped, a value replaced, a key misspelt, a byte
// flipped): checking each one either passes or fails with a one-line
// fovea::Error naming the file, never with a library's exception text. Only
// the check runs (config_from_yaml, as load_config, + validate_config), so
// the loop is fast.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "fovea/error.h"
#include "fovea/train/config.h"
#include "fovea/train/config_check.h"

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines) s += l + "\n";
  return s;
}

// Every mutation of one preset's text, with a label.
std::vector<std::pair<std::string, std::string>> mutations(const std::string& text) {
  std::vector<std::pair<std::string, std::string>> out;
  const auto lines = lines_of(text);
  const std::vector<std::string> values = {"[]", "{}", "[1, [2]]", "text", "-1", "1.5", "null", "\"\xff\xfe\"",
                                           "{type: nothing}", "{type: ridge}", "99999999999999999999"};
  for (size_t i = 0; i < lines.size(); ++i) {
    auto dropped = lines;
    dropped.erase(dropped.begin() + static_cast<long>(i));
    out.emplace_back("line " + std::to_string(i + 1) + " dropped", joined(dropped));
    const auto colon = lines[i].find(':');
    if (colon == std::string::npos || lines[i].find('#') < colon) continue;
    for (const auto& v : values) {
      auto changed = lines;
      changed[i] = lines[i].substr(0, colon + 1) + " " + v;
      out.emplace_back("line " + std::to_string(i + 1) + " = " + v, joined(changed));
    }
    auto misspelt = lines;
    misspelt[i].insert(colon, "x");
    out.emplace_back("line " + std::to_string(i + 1) + " key misspelt", joined(misspelt));
  }
  for (size_t at = 0; at < text.size(); at += 13)
    for (unsigned char bit : {0x01, 0x80}) {
      std::string flipped = text;
      flipped[at] = static_cast<char>(flipped[at] ^ bit);
      out.emplace_back("byte " + std::to_string(at) + " ^ " + std::to_string(bit), flipped);
    }
  return out;
}

TEST(ConfigMutations, EveryMutatedPresetIsValidOrAOneLineFoveaError) {
  const std::string path = "mutant.yaml";
  size_t runs = 0, rejected = 0;
  for (const auto& entry : std::filesystem::directory_iterator(std::string(FOVEA_SOURCE_DIR) + "/configs")) {
    if (entry.path().extension() != ".yaml") continue;
    std::ifstream in(entry.path(), std::ios::binary);
    const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    const bool retina = text.find("family: retina") != std::string::npos;
    const std::vector<std::string> overrides =
        retina ? std::vector<std::string>{"data.dir=d"} : std::vector<std::string>{"data.images=x", "data.responses=y"};
    for (const auto& [label, mutant] : mutations(text)) {
      const std::string what = entry.path().filename().string() + ", " + label;
      ++runs;
      try {
        const auto config = fovea::train::config_from_yaml(mutant, path, overrides);
        fovea::train::validate_config(config, path, overrides);
      } catch (const fovea::Error& e) {
        ++rejected;
        const std::string m = e.what();
        EXPECT_EQ(m.rfind(path, 0), 0u) << what << ": " << m;
        EXPECT_EQ(m.find('\n'), std::string::npos) << what << ": " << m;
        for (const char* internal : {"json.exception", "type_error", "bad_alloc", "std::", "basic_string", "stoll"})
          EXPECT_EQ(m.find(internal), std::string::npos) << what << ": " << m;
      } catch (const std::exception& e) {
        ADD_FAILURE() << what << ": not a fovea::Error: " << e.what();
      }
    }
  }
  std::cout << runs << " mutated configs checked, " << rejected << " rejected" << std::endl;
  EXPECT_GT(runs, 1000u);
  EXPECT_GT(rejected, runs / 2);
}

}  // namespace
