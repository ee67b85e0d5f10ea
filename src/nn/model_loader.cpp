// load_any_model: a name, URL or path to a model.
#include "fovea/nn/model_loader.h"

#include <cctype>
#include <cstdint>
#include <filesystem>
#include <fstream>

#include "fovea/error.h"
#include "fovea/nn/hoefling_ensemble.h"
#include "fovea/nn/pretrained_models.h"

namespace fovea::nn {
namespace {

namespace fs = std::filesystem;

bool ends_with_ci(const std::string& s, const std::string& suffix) {
  if (s.size() < suffix.size()) return false;
  for (size_t i = 0; i < suffix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[s.size() - suffix.size() + i])) != suffix[i]) return false;
  return true;
}

// A bare word ("sridhar_2025") is meant as a model name; a slash or a dot
// ("runs/model.safetensors") makes it a path.
bool looks_like_path(const std::string& s) { return s.find('/') != std::string::npos || s.find('.') != std::string::npos; }

}  // namespace

std::string locate_model_file(const std::string& name_url_or_path, const io::DownloadOptions& download) {
  const std::string& s = name_url_or_path;
  if (s.empty()) fail("model", "empty model name");
  if (io::is_url(s)) return io::fetch_checkpoint(hugging_face_download_url(s), download);
  if (auto url = pretrained_model_url(s)) return io::fetch_checkpoint(*url, download);
  std::error_code ec;
  const auto status = fs::status(s, ec);
  if (fs::is_directory(status)) fail(s, "is a directory, expected a model file");
  if (fs::exists(status)) return s;
  if (looks_like_path(s)) fail(s, "no such file");
  throw Error("unknown model '" + s + "' (known names: " + known_model_names() + ")");
}

bool is_safetensors_file(const std::string& path) {
  if (ends_with_ci(path, ".safetensors")) return true;
  std::ifstream in(path, std::ios::binary);
  unsigned char head[9];
  if (!in.read(reinterpret_cast<char*>(head), sizeof head)) return false;
  uint64_t header_bytes = 0;
  for (int i = 7; i >= 0; --i) header_bytes = (header_bytes << 8) | head[i];
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  // A zip (torch archives, .ckpt) starts "PK\3\4", which reads as a length far beyond the file.
  return !ec && header_bytes >= 2 && header_bytes <= size - 8 && head[8] == '{';
}

std::shared_ptr<Model> load_any_model(const std::string& name_url_or_path, const ImportOptions& options,
                                      const io::DownloadOptions& download) {
  if (is_hoefling_ensemble_name(name_url_or_path))
    return load_hoefling_ensemble(hoefling_member_index(name_url_or_path), /*center=*/false, download);
  std::error_code ec;
  if (fs::is_directory(name_url_or_path, ec) && fs::exists(fs::path(name_url_or_path) / "config_00000.yaml", ec))
    return load_ensemble_from_directory(name_url_or_path);
  const std::string path = locate_model_file(name_url_or_path, download);
  if (is_safetensors_file(path)) return load_model(path);
  return import_checkpoint(path, options);
}

}  // namespace fovea::nn
