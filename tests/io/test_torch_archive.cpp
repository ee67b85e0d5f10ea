#include <ATen/ATen.h>
#include <zip.h>

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "fovea/io/pickle.h"
#include "io_test_util.h"
#include "legacy_torch_writer.h"
#include "pickle_builder.h"
#include "torch_archive_writer.h"

using namespace fovea::io;
using fovea_test::expect_error;
using fovea_test::golden;
using fovea_test::PickleWriter;
using fovea_test::ScratchDir;
using Kind = PyValue::Kind;

namespace {

// A torch.save-style archive written with libzip: entries stored as given.
void write_archive(const std::string& path, const std::vector<std::pair<std::string, std::string>>& entries) {
  int err = 0;
  zip_t* z = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
  ASSERT_NE(z, nullptr);
  for (const auto& [name, bytes] : entries) {
    zip_source_t* src = zip_source_buffer(z, bytes.data(), bytes.size(), 0);
    ASSERT_NE(src, nullptr);
    const zip_int64_t idx = zip_file_add(z, name.c_str(), src, ZIP_FL_OVERWRITE);
    ASSERT_GE(idx, 0);
    zip_set_file_compression(z, static_cast<zip_uint64_t>(idx), ZIP_CM_STORE, 0);
  }
  ASSERT_EQ(zip_close(z), 0);
}

std::string floats(std::initializer_list<float> v, bool big_endian = false) {
  std::string out;
  for (float f : v) {
    char b[4];
    std::memcpy(b, &f, 4);
    if (big_endian) std::reverse(b, b + 4);
    out.append(b, 4);
  }
  return out;
}

bool is_bn_statistic(const std::string& key) {
  return key.find("running_mean") != std::string::npos || key.find("running_var") != std::string::npos ||
         key.find("num_batches_tracked") != std::string::npos;
}

int64_t n_parameters(const std::vector<std::pair<std::string, at::Tensor>>& sd) {
  int64_t n = 0;
  for (const auto& [k, t] : sd) {
    if (!is_bn_statistic(k)) n += t.numel();
  }
  return n;
}

const at::Tensor& find(const std::vector<std::pair<std::string, at::Tensor>>& sd, const std::string& key) {
  for (const auto& [k, t] : sd) {
    if (k == key) return t;
  }
  throw std::runtime_error("no key " + key);
}

nlohmann::json golden_json() {
  std::ifstream in(golden("golden.json"));
  return nlohmann::json::parse(in);
}

// Compares a plain PyValue with a JSON value (numbers, bools, strings, lists, dicts).
void expect_same(const PyRef& v, const nlohmann::json& j, const std::string& where) {
  ASSERT_TRUE(v) << where;
  if (j.is_boolean()) {
    ASSERT_EQ(v->kind, Kind::Bool) << where << ": " << v->repr();
    EXPECT_EQ(v->boolean, j.get<bool>()) << where;
  } else if (j.is_number_integer()) {
    ASSERT_EQ(v->kind, Kind::Int) << where << ": " << v->repr();
    EXPECT_EQ(v->integer, j.get<int64_t>()) << where;
  } else if (j.is_number()) {
    EXPECT_DOUBLE_EQ(v->as_double(), j.get<double>()) << where;
  } else if (j.is_string()) {
    EXPECT_EQ(v->as_string(), j.get<std::string>()) << where;
  } else if (j.is_array()) {
    ASSERT_TRUE(v->kind == Kind::List || v->kind == Kind::Tuple) << where << ": " << v->repr();
    ASSERT_EQ(v->items.size(), j.size()) << where;
    for (size_t i = 0; i < j.size(); ++i) expect_same(v->items[i], j[i], where + "[" + std::to_string(i) + "]");
  } else if (j.is_object()) {
    ASSERT_TRUE(v->is_dict()) << where << ": " << v->repr();
    for (const auto& [k, x] : j.items()) expect_same(v->get(k), x, where + "." + k);
  }
}

// Flips 1..8 random bytes of `good` in 300 trials and reads each result:
// every read must end in a result or a fovea::Error, never a crash. Returns
// how many ended in an error.
int corrupted_reads_that_fail(const std::string& good, const std::string& path, unsigned seed) {
  std::mt19937 rng(seed);
  int errors = 0;
  for (int trial = 0; trial < 300; ++trial) {
    std::string bad = good;
    const int flips = 1 + static_cast<int>(rng() % 8);
    for (int f = 0; f < flips; ++f) bad[rng() % bad.size()] = static_cast<char>(rng() % 256);
    fovea_test::write_raw(path, bad);
    try {
      read_state_dict(path);
    } catch (const fovea::Error&) {
      ++errors;
    }
  }
  return errors;
}

}  // namespace

TEST(TorchArchive, MinimodelFullStateDict) {
  if (!fovea_test::have_golden()) GTEST_SKIP() << "no golden dir";
  const auto sd = read_state_dict(golden("minimodel_full/state_dict.pt"));
  std::vector<std::string> keys;
  for (const auto& [k, t] : sd) keys.push_back(k);
  const std::vector<std::string> expected = {
      "core.features.layer0.conv.weight", "core.features.layer0.norm.weight",
      "core.features.layer0.norm.bias", "core.features.layer0.norm.running_mean",
      "core.features.layer0.norm.running_var", "core.features.layer0.norm.num_batches_tracked",
      "core.features.layer1.ds_conv.in_depth_conv.weight", "core.features.layer1.ds_conv.spatial_conv.weight",
      "core.features.layer1.ds_conv.out_depth_conv.weight", "core.features.layer1.norm.weight",
      "core.features.layer1.norm.bias", "core.features.layer1.norm.running_mean",
      "core.features.layer1.norm.running_var", "core.features.layer1.norm.num_batches_tracked",
      "readout.Wy", "readout.Wx", "readout.Wc", "readout.bias"};
  EXPECT_EQ(keys, expected);
  EXPECT_EQ(n_parameters(sd), golden_json()["minimodel_full"]["n_parameters"].get<int64_t>());
  EXPECT_EQ(n_parameters(sd), 154168);

  const at::Tensor& w = find(sd, "core.features.layer0.conv.weight");
  EXPECT_EQ(w.scalar_type(), at::kFloat);
  EXPECT_EQ(w.sizes(), (std::vector<int64_t>{16, 1, 25, 25}));
  // Values as torch.load reads them.
  EXPECT_TRUE(at::allclose(w[0][0][0].slice(0, 0, 4),
                           at::tensor({0.008885555900633335f, -0.00769449770450592f, 0.03594455122947693f,
                                       0.016918271780014038f}),
                           0, 0));
  EXPECT_NEAR(w.to(at::kDouble).abs().sum().item<double>(), 109.50208650043419, 1e-9);
  EXPECT_EQ(find(sd, "core.features.layer1.ds_conv.out_depth_conv.weight").sizes(),
            (std::vector<int64_t>{320, 320, 1, 1}));
  const at::Tensor& wc = find(sd, "readout.Wc");
  EXPECT_EQ(wc.sizes(), (std::vector<int64_t>{24, 1, 320}));
  EXPECT_NEAR(wc.to(at::kDouble).abs().sum().item<double>(), 61.56711248580609, 1e-9);
  const at::Tensor& nbt = find(sd, "core.features.layer0.norm.num_batches_tracked");
  EXPECT_EQ(nbt.scalar_type(), at::kLong);
  EXPECT_EQ(nbt.dim(), 0);
  EXPECT_EQ(nbt.item<int64_t>(), 1);
}

TEST(TorchArchive, MinimodelMiniStateDict) {
  if (!fovea_test::have_golden()) GTEST_SKIP() << "no golden dir";
  const auto sd = read_state_dict(golden("minimodel_mini/state_dict.pt"));
  EXPECT_EQ(sd.size(), 17u);
  EXPECT_EQ(n_parameters(sd), golden_json()["minimodel_mini"]["n_parameters"].get<int64_t>());
  EXPECT_EQ(n_parameters(sd), 5601);
  EXPECT_EQ(find(sd, "core.features.layer0.conv.weight").sizes(), (std::vector<int64_t>{16, 1, 13, 13}));
  EXPECT_EQ(find(sd, "readout.Wc").sizes(), (std::vector<int64_t>{1, 1, 64}));
  EXPECT_TRUE(at::allclose(find(sd, "readout.Wc")[0][0].slice(0, 0, 3),
                           at::tensor({0.01616041362285614f, -0.3507494628429413f, -0.04274574667215347f}), 0, 0));
}

TEST(TorchArchive, OpenretinaCheckpoint) {
  if (!fovea_test::have_golden()) GTEST_SKIP() << "no golden dir";
  const std::string ckpt = golden("openretina_core_readout/checkpoint.ckpt");
  const auto from_ckpt = read_state_dict(ckpt);
  const auto plain = read_state_dict(golden("openretina_core_readout/state_dict.pt"));
  ASSERT_EQ(from_ckpt.size(), plain.size());
  EXPECT_EQ(plain.size(), 33u);
  for (size_t i = 0; i < plain.size(); ++i) {
    EXPECT_EQ(from_ckpt[i].first, plain[i].first);
    EXPECT_TRUE(at::equal(from_ckpt[i].second, plain[i].second)) << plain[i].first;
  }
  EXPECT_EQ(find(plain, "core.features.layer0.conv.weight_spatial").sizes(),
            (std::vector<int64_t>{16, 2, 1, 11, 11}));
  EXPECT_EQ(find(plain, "readout.session_a.grid").sizes(), (std::vector<int64_t>{7, 8, 6, 2}));

  const PyRef root = read_torch_archive(ckpt);
  ASSERT_TRUE(root->is_dict());
  EXPECT_EQ(root->get("epoch")->as_int(), 41);
  EXPECT_EQ(root->get("global_step")->as_int(), 3444);
  EXPECT_EQ(root->get("pytorch-lightning_version")->as_string(), "2.5.0");

  const PyRef hp = omegaconf_to_plain(root->get("hyper_parameters"));
  ASSERT_TRUE(hp && hp->is_dict());
  const nlohmann::json g = golden_json()["openretina_core_readout"];
  const PyRef core = hp->get("core");
  ASSERT_TRUE(core && core->is_dict()) << hp->repr();
  EXPECT_EQ(core->get("_target_")->as_string(), "openretina.modules.core.base_core.SimpleCoreWrapper");
  expect_same(core, g["core"], "core");
  const PyRef readout = hp->get("readout");
  ASSERT_TRUE(readout && readout->is_dict());
  EXPECT_EQ(readout->get("_target_")->as_string(),
            "openretina.modules.readout.multi_readout.MultiGaussianMaskReadout");
  nlohmann::json readout_expected = g["readout"];
  expect_same(hp->get("n_neurons_dict"), readout_expected["n_neurons_dict"], "n_neurons_dict");
  readout_expected.erase("n_neurons_dict");  // a top-level hyper-parameter in the checkpoint
  expect_same(readout, readout_expected, "readout");
  expect_same(hp->get("in_shape"), nlohmann::json::array({2, 150, 18, 16}), "in_shape");
  expect_same(hp->get("hidden_channels"), nlohmann::json::array({16, 16}), "hidden_channels");
  EXPECT_DOUBLE_EQ(hp->get("learning_rate")->as_double(), 0.01);
  expect_same(hp->get("optimizer"), {{"_target_", "torch.optim.AdamW"}, {"_partial_", true}, {"weight_decay", 0.01}},
              "optimizer");
  expect_same(hp->get("lr_scheduler"), {{"mode", "max"}, {"factor", 0.3}, {"patience", 5}}, "lr_scheduler");

  // data_info: tensors, numpy arrays and numpy scalars.
  const PyRef info = hp->get("data_info");
  ASSERT_TRUE(info && info->is_dict());
  expect_same(info->get("input_shape"), nlohmann::json::array({2, 18, 16}), "input_shape");
  const PyRef mean_a = info->get("mean_activity_dict")->get("session_a");
  ASSERT_EQ(mean_a->kind, Kind::Tensor);
  EXPECT_EQ(mean_a->tensor.sizes(), (std::vector<int64_t>{7}));
  const PyRef roi = info->get("sessions_kwargs")->get("session_b")->get("roi_ids");
  ASSERT_EQ(roi->kind, Kind::Tensor);
  EXPECT_TRUE(at::equal(roi->tensor, at::arange(5, at::kLong)));
  const PyRef groups = info->get("sessions_kwargs")->get("session_a")->get("group_assignment");
  EXPECT_TRUE(at::equal(groups->tensor, at::arange(1, 8, at::kLong)));
  EXPECT_EQ(info->get("stim_mean")->kind, Kind::Float);
  EXPECT_EQ(info->get("stim_mean")->as_double(), 0.0);
  EXPECT_EQ(info->get("stim_std")->as_double(), 1.0);
}

TEST(TorchArchive, HandWrittenLightningCheckpoint) {
  // {'state_dict': {'w': <2x2 view>, 'b': <2-vector at offset 4>}, 'epoch': 1},
  // under an archive folder of another name, with a shared storage.
  PickleWriter w;
  w.proto(2).empty_dict().mark().str("state_dict").global("collections", "OrderedDict").empty_tuple().reduce();
  w.mark().str("w").tensor("FloatStorage", "0", 6, 0, {2, 2}, {1, 2});
  w.str("b").tensor("FloatStorage", "0", 6, 4, {2}, {1}).setitems();
  w.str("epoch").integer(1).setitems().stop();
  ScratchDir dir;
  for (bool big_endian : {false, true}) {
    const std::string path = dir.file(big_endian ? "be.ckpt" : "le.ckpt");
    std::vector<std::pair<std::string, std::string>> entries = {
        {"my_model/data.pkl", w.bytes()},
        {"my_model/data/0", floats({1, 2, 3, 4, 5, 6}, big_endian)},
        {"my_model/version", "3\n"}};
    if (big_endian) entries.push_back({"my_model/byteorder", "big"});
    write_archive(path, entries);
    const auto sd = read_state_dict(path);
    ASSERT_EQ(sd.size(), 2u);
    EXPECT_EQ(sd[0].first, "w");
    EXPECT_TRUE(at::equal(sd[0].second, at::tensor({1.0f, 3.0f, 2.0f, 4.0f}).reshape({2, 2})));
    EXPECT_EQ(sd[1].first, "b");
    EXPECT_TRUE(at::equal(sd[1].second, at::tensor({5.0f, 6.0f})));
  }
}

TEST(TorchArchive, NotAStateDict) {
  ScratchDir dir;
  const std::string list_pt = dir.file("a.pt");
  PickleWriter list;
  list.proto(2).empty_list().mark().integer(1).integer(2).appends().stop();
  write_archive(list_pt, {{"a/data.pkl", list.bytes()}, {"a/version", "3\n"}});
  expect_error([&] { read_state_dict(list_pt); }, {list_pt, "not a PyTorch state dict", "top-level object is a list"});
  const PyRef v = read_torch_archive(list_pt);  // the archive itself is fine
  EXPECT_EQ(v->repr(), "[1, 2]");

  const std::string dict_pt = dir.file("d.pt");
  PickleWriter dict;
  dict.proto(2).empty_dict().str("epoch").integer(3).op('s').stop();
  write_archive(dict_pt, {{"archive/data.pkl", dict.bytes()}});
  expect_error([&] { read_state_dict(dict_pt); }, {dict_pt, "not a PyTorch state dict", "'epoch'", "an int"});

  const std::string inner_pt = dir.file("i.ckpt");
  PickleWriter inner;
  inner.proto(2).empty_dict().str("state_dict").empty_list().op('s').stop();
  write_archive(inner_pt, {{"archive/data.pkl", inner.bytes()}});
  expect_error([&] { read_state_dict(inner_pt); }, {inner_pt, "'state_dict' entry is a list"});
}

TEST(TorchArchive, BrokenArchives) {
  ScratchDir dir;
  const std::string garbage = dir.file("garbage.pt");
  fovea_test::write_raw(garbage, "this is not a zip file at all");
  expect_error([&] { read_state_dict(garbage); }, {garbage, "not a PyTorch file"});

  // A legacy file that ends inside its second pickle.
  const std::string legacy = dir.file("legacy.pt");
  fovea_test::write_raw(legacy, std::string("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.\x80\x02", 17));
  expect_error([&] { read_state_dict(legacy); }, {legacy, "legacy torch.save header", "truncated"});

  expect_error([&] { read_state_dict(dir.file("absent.pt")); }, {"absent.pt", "cannot open"});

  const std::string no_pkl = dir.file("nopkl.pt");
  write_archive(no_pkl, {{"a/version", "3\n"}});
  expect_error([&] { read_state_dict(no_pkl); }, {no_pkl, "data.pkl"});

  PickleWriter w;
  w.proto(2).empty_dict().str("w").tensor("FloatStorage", "0", 6, 0, {6}, {1}).op('s').stop();
  const std::string missing = dir.file("missing.pt");
  write_archive(missing, {{"a/data.pkl", w.bytes()}});
  expect_error([&] { read_state_dict(missing); }, {missing, "storage '0' is missing"});
  const std::string short_storage = dir.file("short.pt");
  write_archive(short_storage, {{"a/data.pkl", w.bytes()}, {"a/data/0", floats({1, 2, 3})}});
  expect_error([&] { read_state_dict(short_storage); }, {short_storage, "storage '0'", "24 bytes", "has 12"});

  if (!fovea_test::have_golden()) return;
  const std::string good = fovea_test::read_raw(golden("minimodel_mini/state_dict.pt"));
  const std::string cut = dir.file("cut.pt");
  fovea_test::write_raw(cut, good.substr(0, good.size() / 2));
  expect_error([&] { read_state_dict(cut); }, {cut});
  // Flip a byte inside the first stored storage: the CRC check refuses it.
  const std::string name = "state_dict/data/0";
  size_t pos = good.find(std::string("PK\x03\x04", 4));
  for (;;) {  // the local header whose name is `name`
    ASSERT_NE(pos, std::string::npos);
    if (good.compare(pos + 30, name.size(), name) == 0) break;
    pos = good.find(std::string("PK\x03\x04", 4), pos + 4);
  }
  auto u16 = [&](size_t at) { return static_cast<unsigned char>(good[at]) | static_cast<unsigned char>(good[at + 1]) << 8; };
  const size_t data = pos + 30 + u16(pos + 26) + u16(pos + 28);
  std::string flipped = good;
  flipped[data + 10] ^= 0x10;
  const std::string bad = dir.file("flipped.pt");
  fovea_test::write_raw(bad, flipped);
  expect_error([&] { read_state_dict(bad); }, {bad});
}

TEST(TorchArchive, CorruptedArchivesNeverCrash) {
  if (!fovea_test::have_golden()) GTEST_SKIP() << "no golden dir";
  // Random byte flips anywhere in a real archive: an error or a result, never a crash.
  const std::string good = fovea_test::read_raw(golden("openretina_core_readout/state_dict.pt"));
  ScratchDir dir;
  const std::string path = dir.file("fuzz.pt");
  EXPECT_GT(corrupted_reads_that_fail(good, path, 7), 0);
}

// ---- the legacy (non-zip) container ----
namespace {

using fovea_test::LegacyRecord;
using fovea_test::LegacyView;
using fovea_test::legacy_tensor;

const std::string kShared = "140234567";  // storage keys are memory addresses in real files

// OrderedDict {'a': 2x3 on the shared storage, 'b': elements 2..3 of it,
// 't': its transpose, 'v': an old-style storage view (elements 1..3),
// 'n': an int64 scalar, 'm': 3 bools}.
std::string legacy_object() {
  PickleWriter w;
  w.proto(2).global("collections", "OrderedDict").empty_tuple().reduce().mark();
  legacy_tensor(w.str("a"), "FloatStorage", kShared, 6, 0, {2, 3}, {3, 1});
  legacy_tensor(w.str("b"), "FloatStorage", kShared, 6, 2, {2}, {1});
  legacy_tensor(w.str("t"), "FloatStorage", kShared, 6, 0, {3, 2}, {1, 3});
  legacy_tensor(w.str("v"), "FloatStorage", kShared, 6, 0, {3}, {1}, LegacyView{"140234571", 1, 3});
  legacy_tensor(w.str("n"), "LongStorage", "7", 1, 0, {}, {});
  legacy_tensor(w.str("m"), "BoolStorage", "99", 3, 0, {3}, {1});
  return w.setitems().stop().bytes();
}

// The records, deliberately not in the order the pickle names them.
std::vector<LegacyRecord> legacy_records() {
  std::string n = fovea_test::int64_bytes(42);
  return {{"99", 3, std::string("\x00\x02\x01", 3)}, {kShared, 6, floats({1, 2, 3, 4, 5, 6})}, {"7", 1, n}};
}

void expect_legacy_values(const std::vector<std::pair<std::string, at::Tensor>>& sd) {
  std::vector<std::string> keys;
  for (const auto& [k, t] : sd) keys.push_back(k);
  ASSERT_EQ(keys, (std::vector<std::string>{"a", "b", "t", "v", "n", "m"}));
  const at::Tensor& a = sd[0].second;
  EXPECT_TRUE(at::equal(a, at::tensor({1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f}).reshape({2, 3})));
  EXPECT_TRUE(at::equal(sd[1].second, at::tensor({3.0f, 4.0f})));
  EXPECT_TRUE(at::equal(sd[2].second, at::tensor({1.0f, 4.0f, 2.0f, 5.0f, 3.0f, 6.0f}).reshape({3, 2})));
  EXPECT_TRUE(at::equal(sd[3].second, at::tensor({2.0f, 3.0f, 4.0f})));
  // Contiguous views of one storage share its memory, as in torch.load.
  EXPECT_EQ(sd[1].second.data_ptr<float>(), a.data_ptr<float>() + 2);
  EXPECT_EQ(sd[3].second.data_ptr<float>(), a.data_ptr<float>() + 1);
  EXPECT_EQ(sd[4].second.scalar_type(), at::kLong);
  EXPECT_EQ(sd[4].second.dim(), 0);
  EXPECT_EQ(sd[4].second.item<int64_t>(), 42);
  EXPECT_TRUE(at::equal(sd[5].second, fovea_test::bools({0, 1, 1})));
}

std::string hoefling_state_dict(const std::string& id) {
  return golden("hoefling_ensemble/ensemble/state_dict_" + id + ".pth.tar");
}
bool have_hoefling() { return std::filesystem::exists(golden("hoefling_ensemble/golden.json")); }

}  // namespace

TEST(TorchArchive, LegacyContainerRoundTrip) {
  ScratchDir dir;
  const std::string path = dir.file("legacy.pth.tar");
  fovea_test::write_raw(path, fovea_test::legacy_file(legacy_object(), legacy_records()));
  const auto sd = read_state_dict(path);
  expect_legacy_values(sd);
  // Writing through one tensor shows in the others on the same storage.
  sd[0].second.add_(10);
  EXPECT_TRUE(at::equal(sd[1].second, at::tensor({13.0f, 14.0f})));

  const PyRef root = read_torch_archive(path);
  ASSERT_TRUE(root->is_dict());
  EXPECT_EQ(root->entries.size(), 6u);

  // A big-endian writer: the data is little-endian either way (PyTorch
  // converts it); the count is little-endian from PyTorch >= 1.0, native
  // (big-endian) from older writers. Both read the same.
  for (bool count_big_endian : {false, true}) {
    const std::string be = dir.file(count_big_endian ? "be_native_count.pth.tar" : "be.pth.tar");
    fovea_test::write_raw(be, fovea_test::legacy_file(legacy_object(), legacy_records(), /*little_endian=*/false,
                                                       count_big_endian));
    expect_legacy_values(read_state_dict(be));
  }
}

TEST(TorchArchive, LegacyTruncatedEverywhere) {
  // Every proper prefix of a legacy file: a one-line error naming the file.
  const std::string good = fovea_test::legacy_file(legacy_object(), legacy_records());
  ScratchDir dir;
  const std::string path = dir.file("cut.pth.tar");
  for (size_t n = 0; n < good.size(); ++n) {
    fovea_test::write_raw(path, good.substr(0, n));
    expect_error([&] { read_state_dict(path); }, {path});
  }
  // The error says what is missing.
  const size_t last = good.size() - 3;  // inside the last record's data
  fovea_test::write_raw(path, good.substr(0, last));
  expect_error([&] { read_state_dict(path); }, {path, "truncated", "storage '7'", "needs 8 bytes"});
  fovea_test::write_raw(path, good.substr(0, good.size() - 8 - 3));  // inside the last record's count
  expect_error([&] { read_state_dict(path); }, {path, "truncated", "storage '7'", "no element count"});
  fovea_test::write_raw(path, good.substr(0, 40));
  expect_error([&] { read_state_dict(path); }, {path, "legacy torch.save header", "truncated"});
}

TEST(TorchArchive, LegacyBadRecords) {
  ScratchDir dir;
  const std::string path = dir.file("bad.pth.tar");
  auto expect_bad = [&](const std::string& bytes, std::initializer_list<std::string> parts) {
    fovea_test::write_raw(path, bytes);
    std::vector<std::string> all = {path};
    all.insert(all.end(), parts.begin(), parts.end());
    try {
      read_state_dict(path);
      ADD_FAILURE() << "expected an error containing " << *parts.begin();
    } catch (const fovea::Error& e) {
      const std::string msg = e.what();
      for (const auto& p : all) EXPECT_NE(msg.find(p), std::string::npos) << msg << "\nmissing: " << p;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    }
  };
  auto one_tensor = [](int64_t numel, std::optional<LegacyView> view = std::nullopt) {
    PickleWriter w;
    w.proto(2).empty_dict();
    legacy_tensor(w.str("w"), "FloatStorage", "5", numel, 0, {4}, {1}, view);
    return w.op('s').stop().bytes();
  };
  const std::string four = floats({1, 2, 3, 4});

  // A header that claims a 100 GB storage in a small file: refused before
  // anything of that size is allocated.
  const int64_t huge = 25'000'000'000;
  expect_bad(fovea_test::legacy_file(one_tensor(huge), {{"5", huge, four}}),
             {"truncated", "storage '5'", "needs 100000000000 bytes"});
  // The record's count disagrees with the pickle.
  expect_bad(fovea_test::legacy_file(one_tensor(4), {{"5", 3, floats({1, 2, 3})}}),
             {"storage '5'", "holds 3 elements", "pickle says 4"});
  expect_bad(fovea_test::legacy_file(one_tensor(4), {{"5", huge, four}}), {"holds 25000000000 elements"});
  // The storage list names a storage no tensor uses, names one twice, or
  // leaves one out.
  expect_bad(fovea_test::legacy_file(one_tensor(4), {{"5", 4, four}, {"6", 4, four}}),
             {"names '6'", "no tensor"});
  expect_bad(fovea_test::legacy_file(one_tensor(4), {{"5", 4, four}, {"5", 4, four}}), {"names '5' twice"});
  expect_bad(fovea_test::legacy_file(one_tensor(4), {}), {"storage '5' is used by a tensor"});
  // A size no file can hold.
  expect_bad(fovea_test::legacy_file(one_tensor(int64_t{1} << 62), {}), {"storage '5'", "more than any file holds"});
  // An old-style view outside its storage.
  expect_bad(fovea_test::legacy_file(one_tensor(6, LegacyView{"9", 4, 4}), {{"5", 6, floats({1, 2, 3, 4, 5, 6})}}),
             {"outside storage '5'"});
  // Another protocol version.
  std::string other_version = fovea_test::legacy_file(one_tensor(4), {{"5", 4, four}});
  // BININT2 1001: its first occurrence is the version pickle.
  const size_t at = other_version.find(std::string("M\xe9\x03", 3));
  ASSERT_NE(at, std::string::npos);
  other_version[at + 1] = '\xe8';  // 1000
  expect_bad(other_version, {"protocol version is 1000", "expected 1001"});
  // A persistent id with neither 5 nor 6 fields.
  PickleWriter seven;
  seven.proto(2).empty_dict().str("w").global("torch._utils", "_rebuild_tensor_v2").mark().mark();
  seven.str("storage").global("torch", "FloatStorage").str("5").str("cpu").integer(4).none().none().tuple();
  seven.binpersid().integer(0).int_tuple({4}).int_tuple({1}).boolean(false).empty_tuple().tuple().reduce();
  expect_bad(fovea_test::legacy_file(seven.op('s').stop().bytes(), {{"5", 4, four}}), {"7 fields"});
}

TEST(TorchArchive, HoeflingEnsembleStateDictsBothContainers) {
  if (!have_hoefling()) GTEST_SKIP() << "no hoefling_ensemble golden dir";
  std::ifstream in(golden("hoefling_ensemble/golden.json"));
  const nlohmann::json g = nlohmann::json::parse(in);
  const auto keys = g["state_dict_keys_in_file_order"].get<std::vector<std::string>>();
  ASSERT_EQ(keys.size(), 43u);
  for (const auto& member : g["members"]) {
    const std::string id = member["id"].get<std::string>();
    const std::string path = hoefling_state_dict(id);
    SCOPED_TRACE(path);
    const bool legacy = fovea_test::read_raw(path).compare(0, 2, "\x80\x02") == 0;
    EXPECT_EQ(legacy, id == "03000" || id == "04000");
    const auto sd = read_state_dict(path);
    std::vector<std::string> got;
    for (const auto& [k, t] : sd) got.push_back(k);
    ASSERT_EQ(got, keys);
    for (const auto& [k, t] : sd) {
      EXPECT_EQ(t.sizes().vec(), g["state_dict_shapes"][k].get<std::vector<int64_t>>()) << k;
      const bool counter = k.find("num_batches_tracked") != std::string::npos;
      EXPECT_EQ(t.scalar_type(), counter ? at::kLong : at::kFloat) << k;
    }
    // The three log_speed entries of a session are one storage, with the
    // member's value.
    for (const auto& [session, value] : member["log_speed"].items()) {
      const at::Tensor& core = find(sd, "core.log_speed_" + session);
      for (const char* layer : {"layer0", "layer1"}) {
        const at::Tensor& conv = find(sd, std::string("core.features.") + layer + ".conv.log_speed_" + session);
        EXPECT_TRUE(at::equal(conv, core)) << session;
        EXPECT_EQ(conv.data_ptr(), core.data_ptr()) << session;
      }
      EXPECT_EQ(core.item<float>(), value.get<float>()) << session;
    }
    // Values fixed by the generator, the same in every member.
    for (const auto& [k, values] : g["laplace_filters"].items()) {
      EXPECT_TRUE(at::equal(find(sd, k).flatten(), at::tensor(values.get<std::vector<float>>()))) << k;
    }
    const at::Tensor grid = find(sd, "readout.1_ventral1_20201021.grid");
    EXPECT_TRUE(at::allclose(grid[0].select(2, 0).select(1, 0), at::linspace(-1, 1, 8), 0, 1e-6));
    EXPECT_TRUE(at::allclose(grid[0].select(2, 1).select(0, 0), at::linspace(-0.75, 0.75, 6), 0, 1e-6));
  }
}

TEST(TorchArchive, HoeflingLegacyMatchesZipResave) {
  if (!have_hoefling()) GTEST_SKIP() << "no hoefling_ensemble golden dir";
  const std::string path = hoefling_state_dict("03000");
  const auto legacy = read_state_dict(path);
  std::vector<std::pair<std::string, PyRef>> entries;
  for (const auto& [k, t] : legacy) entries.emplace_back(k, fovea::test::py_tensor(t));
  ScratchDir dir;
  const std::string zip = dir.file("resaved.pth.tar");
  fovea::test::write_torch_archive(zip, fovea::test::py_dict(entries));
  const auto resaved = read_state_dict(zip);
  ASSERT_EQ(resaved.size(), legacy.size());
  for (size_t i = 0; i < legacy.size(); ++i) {
    EXPECT_EQ(resaved[i].first, legacy[i].first);
    EXPECT_EQ(resaved[i].second.scalar_type(), legacy[i].second.scalar_type()) << legacy[i].first;
    EXPECT_TRUE(at::equal(resaved[i].second, legacy[i].second)) << legacy[i].first;
  }
}

TEST(TorchArchive, HoeflingLegacyTruncatedAndCorrupted) {
  if (!have_hoefling()) GTEST_SKIP() << "no hoefling_ensemble golden dir";
  const std::string good = fovea_test::read_raw(hoefling_state_dict("03000"));
  ScratchDir dir;
  const std::string path = dir.file("cut.pth.tar");
  // Cuts in the header (its pickles end at 15, 21, 137), the object pickle
  // (to 6323), the key list (to 6923), the first count and the data.
  for (size_t n : {size_t{2}, size_t{15}, size_t{20}, size_t{137}, size_t{3000}, size_t{6320}, size_t{6500},
                   size_t{6927}, size_t{7031}, good.size() - 900, good.size() - 1}) {
    ASSERT_LT(n, good.size());
    fovea_test::write_raw(path, good.substr(0, n));
    expect_error([&] { read_state_dict(path); }, {path});
  }
  // Random byte changes: an error or a result, never a crash.
  EXPECT_GT(corrupted_reads_that_fail(good, path, 11), 0);
}
