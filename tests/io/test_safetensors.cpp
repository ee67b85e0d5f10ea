#include <ATen/ATen.h>

#include <cstring>
#include <random>
#include <nlohmann/json.hpp>

#include "fovea/io/safetensors.h"
#include "io_test_util.h"

using namespace fovea::io;
using fovea_test::expect_error;
using fovea_test::ScratchDir;

namespace {

// A safetensors file from a header text and data bytes (header padded to 8).
std::string file_bytes(std::string header, const std::string& data, bool pad = true) {
  if (pad) header.append((8 - header.size() % 8) % 8, ' ');
  std::string out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((static_cast<uint64_t>(header.size()) >> (8 * i)) & 0xFF));
  return out + header + data;
}

std::string f32(std::initializer_list<float> v) {
  std::string out;
  for (float f : v) out.append(reinterpret_cast<const char*>(&f), 4);
  return out;
}

}  // namespace

TEST(Safetensors, RoundTripWithMetadata) {
  ScratchDir dir;
  const std::string path = dir.file("model.safetensors");
  const NamedTensors tensors = {
      {"core.features.layer0.conv.weight", at::arange(24, at::kFloat).reshape({2, 3, 4}).sub(5)},
      {"readout.session_a.bias", at::tensor({1.5, -2.0}, at::kDouble)},
      {"ids", at::tensor({7, -8, 9}, at::kLong)},
      {"i32", at::tensor({1, 2}, at::kInt)},
      {"i16", at::tensor({-3, 4}, at::kShort)},
      {"i8", at::tensor({-5}, at::kChar)},
      {"pixels", at::tensor({0, 255}, at::kByte)},
      {"mask", fovea_test::bools({1, 0, 1})},
      {"half", at::tensor({0.5f, 2.0f}).to(at::kHalf)},
      {"bf16", at::tensor({1.0f, -4.0f}).to(at::kBFloat16)},
      {"scalar", at::scalar_tensor(3.0, at::kFloat)},
      {"empty", at::zeros({0, 4}, at::kFloat)},
      {"transposed", at::arange(6, at::kFloat).reshape({2, 3}).t()},
  };
  const std::map<std::string, std::string> metadata = {
      {"spec", R"({"core": {"type": "v1_core"}, "n": [1, 2]})"}, {"format", "pt"}, {"note", "caf\xc3\xa9"}};
  write_safetensors(path, tensors, metadata);

  const SafetensorsContent back = read_safetensors(path);
  ASSERT_EQ(back.tensors.size(), tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    EXPECT_EQ(back.tensors[i].first, tensors[i].first);
    EXPECT_EQ(back.tensors[i].second.scalar_type(), tensors[i].second.scalar_type()) << tensors[i].first;
    EXPECT_TRUE(at::equal(back.tensors[i].second, tensors[i].second)) << tensors[i].first;
  }
  EXPECT_EQ(back.metadata, metadata);

  // The layout: 8-byte size, a JSON header padded with spaces to a multiple of 8.
  const std::string bytes = fovea_test::read_raw(path);
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n % 8, 0u);
  ASSERT_LE(n + 8, bytes.size());
  const std::string header = bytes.substr(8, n);
  const auto j = nlohmann::json::parse(header);
  EXPECT_EQ(j["__metadata__"]["format"], "pt");
  EXPECT_EQ(j["ids"]["dtype"], "I64");
  EXPECT_EQ(j["ids"]["shape"], nlohmann::json::array({3}));
  EXPECT_EQ(j["mask"]["dtype"], "BOOL");
  EXPECT_EQ(j["bf16"]["dtype"], "BF16");
  EXPECT_EQ(j["core.features.layer0.conv.weight"]["data_offsets"], nlohmann::json::array({0, 96}));
  EXPECT_EQ(j["readout.session_a.bias"]["data_offsets"], nlohmann::json::array({96, 112}));
  EXPECT_EQ(header.find_last_not_of(' ') + 1, header.find_last_of('}') + 1);
}

TEST(Safetensors, ReadsHandWrittenFile) {
  ScratchDir dir;
  const std::string path = dir.file("h.safetensors");
  // Unpadded header, tensors listed out of data order.
  fovea_test::write_raw(path, file_bytes(R"({"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},)"
                                         R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                                         f32({1.0f, 2.0f, 3.0f}), false));
  const auto c = read_safetensors(path);
  ASSERT_EQ(c.tensors.size(), 2u);
  EXPECT_EQ(c.tensors[0].first, "a");  // file (data) order
  EXPECT_TRUE(at::equal(c.tensors[0].second, at::tensor({1.0f, 2.0f})));
  EXPECT_TRUE(at::equal(c.tensors[1].second, at::tensor({3.0f})));
  EXPECT_TRUE(c.metadata.empty());
}

TEST(Safetensors, CorruptFilesGiveErrors) {
  ScratchDir dir;
  const std::string path = dir.file("bad.safetensors");
  const std::string good_header = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  auto expect_bad = [&](const std::string& bytes, std::initializer_list<std::string> parts) {
    fovea_test::write_raw(path, bytes);
    std::vector<std::string> all = {path};
    all.insert(all.end(), parts.begin(), parts.end());
    try {
      read_safetensors(path);
      ADD_FAILURE() << "no error for " << *parts.begin();
    } catch (const fovea::Error& e) {
      for (const auto& p : all) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what() << " / expected: " << p;
    }
  };
  expect_bad(file_bytes(good_header, f32({1, 2})).substr(0, 5), {"truncated"});
  std::string huge = file_bytes(good_header, f32({1, 2}));
  huge[4] = 1;  // header size ~ 4 GB
  expect_bad(huge, {"header says"});
  expect_bad(file_bytes(R"({"a":{"dtype":"F32",)", f32({1, 2})), {"not valid JSON"});
  expect_bad(file_bytes("[1, 2]", ""), {"not a JSON object"});
  expect_bad(file_bytes(good_header, f32({1})), {"outside the data section"});
  expect_bad(file_bytes(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", f32({1, 2})), {"need 12"});
  expect_bad(file_bytes(R"({"a":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}})", f32({1, 2})),
             {"unsupported dtype 'C64'"});
  expect_bad(file_bytes(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,8]}})", f32({1, 2})),
             {"non-negative"});
  expect_bad(file_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", f32({1, 2})),
             {"starts at byte 4", "expected 0"});
  expect_bad(file_bytes(good_header, f32({1, 2, 3})), {"tensors cover 8"});
  expect_bad(file_bytes(R"({"__metadata__":{"k":1},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", f32({1, 2})),
             {"'k' is not a string"});
  expect_bad(file_bytes(R"({"a":{"dtype":"F32","shape":[2]}})", f32({1, 2})), {"data_offsets"});
}

TEST(Safetensors, WriteRefusesWhatItCannotStore) {
  ScratchDir dir;
  const std::string path = dir.file("w.safetensors");
  expect_error([&] { write_safetensors(path, {{"c", at::zeros({2}, at::kComplexFloat)}}, {}); }, {path, "complex64"});
  expect_error([&] { write_safetensors(path, {{"a", at::zeros({2})}, {"a", at::zeros({2})}}, {}); }, {path, "twice"});
  expect_error([&] { write_safetensors(path, {{"__metadata__", at::zeros({2})}}, {}); }, {path, "__metadata__"});
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(Safetensors, CorruptedFilesNeverCrash) {
  ScratchDir dir;
  const std::string path = dir.file("fuzz.safetensors");
  write_safetensors(path, {{"w", at::arange(12, at::kFloat).reshape({3, 4})}, {"b", at::ones({5}, at::kLong)}},
                    {{"spec", "{}"}});
  const std::string good = fovea_test::read_raw(path);
  std::mt19937 rng(3);
  int errors = 0;
  for (int trial = 0; trial < 1000; ++trial) {
    std::string bad = good;
    const int flips = 1 + static_cast<int>(rng() % 4);
    // Mostly the 8-byte size and the JSON header, where the structure is.
    for (int f = 0; f < flips; ++f) bad[rng() % std::min<size_t>(bad.size(), 200)] = static_cast<char>(rng() % 256);
    fovea_test::write_raw(path, bad);
    try {
      read_safetensors(path);
    } catch (const fovea::Error&) {
      ++errors;
    }
  }
  EXPECT_GT(errors, 500);
}
