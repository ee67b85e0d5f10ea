#include <ATen/ATen.h>
#include <zip.h>

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "fovea/io/pickle.h"
#include "io_test_util.h"
#include "pickle_builder.h"

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

  const std::string legacy = dir.file("legacy.pt");
  fovea_test::write_raw(legacy, std::string("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.\x80\x02", 17));
  expect_error([&] { read_state_dict(legacy); }, {legacy, "legacy"});

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
  std::mt19937 rng(7);
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
  EXPECT_GT(errors, 0);
}
