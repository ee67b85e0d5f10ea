// Inputs that the libFuzzer harnesses of fuzz/ (or the review that came with
// them) found to crash, hang or over-allocate a reader, kept as regression
// cases; and the rule of fuzz/README.md: a header that claims a 100 GB tensor
// in a file of about 1 KB is a fovea::Error naming the file, raised quickly
// and before anything of that size is allocated.
#include <ATen/ATen.h>
#include <H5Cpp.h>
#include <matio.h>
#include <c10/core/CPUAllocator.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "fovea/io/hdf5.h"
#include "fovea/io/mat.h"
#include "fovea/io/npy.h"
#include "fovea/io/pickle.h"
#include "fovea/io/safetensors.h"
#include "fovea/io/yaml.h"
#include "io/detail.h"
#include "io_test_util.h"
#include "legacy_torch_writer.h"
#include "test_util.h"

namespace {

using fovea::test::TempDir;
using fovea_test::any_integer;
using fovea_test::int64_bytes;
using fovea_test::PickleWriter;

constexpr int64_t k100GB = int64_t{100} * 1000 * 1000 * 1000;
constexpr int64_t kFloats100GB = k100GB / 4;  // float32 elements in 100 GB

// Records the largest tensor allocation while it is installed (tensor memory
// goes through LibTorch's CPU allocator).
class RecordingAllocator : public c10::Allocator {
 public:
  RecordingAllocator() : base_(c10::GetCPUAllocator()) { c10::SetCPUAllocator(this, kPriority); }
  ~RecordingAllocator() override { c10::SetCPUAllocator(base_, kPriority); }
  c10::DataPtr allocate(size_t n) const override {
    largest_ = std::max(largest_, n);
    return base_->allocate(n);
  }
  c10::DeleterFnPtr raw_deleter() const override { return base_->raw_deleter(); }
  size_t largest() const { return largest_; }

 private:
  static constexpr uint8_t kPriority = 200;
  c10::Allocator* base_;
  mutable size_t largest_ = 0;
};

// Reads `path` with `read`, which must throw a one-line fovea::Error that
// names the file, within a second, with no tensor allocation over 1 MiB.
template <typename Read>
void expect_refused_without_allocating(const std::string& path, Read&& read) {
  ASSERT_LT(std::filesystem::file_size(path), 4096u) << path;
  RecordingAllocator recorder;
  const auto start = std::chrono::steady_clock::now();
  const std::string message = fovea::test::error_of([&] { read(path); });
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  EXPECT_EQ(message.find("out of memory"), std::string::npos) << message;
  EXPECT_LT(seconds, 1.0) << message;
  EXPECT_LT(recorder.largest(), size_t{1} << 20) << message;
}

// An .npy v1.0 file: magic, version, header length, header padded to 64.
std::string npy_file(const std::string& dict, const std::string& data) {
  std::string header = dict;
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out("\x93NUMPY\x01\x00", 8);
  out.push_back(static_cast<char>(header.size() & 0xFF));
  out.push_back(static_cast<char>(header.size() >> 8));
  return out + header + data;
}

// torch._utils._rebuild_tensor_v2(('storage', torch.FloatStorage, '0', 'cpu', numel), 0, (numel,), (1,), ...)
// in an OrderedDict under 'w'; any_integer writes counts beyond int32.
std::string state_dict_pickle(int64_t numel, bool legacy) {
  PickleWriter w;
  w.proto(2).global("collections", "OrderedDict").empty_tuple().reduce().mark().str("w");
  w.global("torch._utils", "_rebuild_tensor_v2").mark();
  w.mark().str("storage").global("torch", "FloatStorage").str("0").str("cpu");
  any_integer(w, numel);
  if (legacy) w.none();
  w.tuple().binpersid().integer(0).mark();
  any_integer(w, numel);
  w.tuple().int_tuple({1}).boolean(false);
  w.global("collections", "OrderedDict").empty_tuple().reduce();
  w.tuple().reduce().setitems().stop();
  return w.bytes();
}

}  // namespace

// ---- a header claiming 100 GB in a file of about 1 KB ----

TEST(FuzzRegressions, Npy100GBClaimIsRefusedBeforeAllocating) {
  TempDir dir;
  const std::string path = dir.file("big.npy");
  fovea_test::write_raw(path, npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (" +
                                           std::to_string(kFloats100GB) + ",), }",
                                       std::string(512, '\0')));
  expect_refused_without_allocating(path, [](const std::string& p) { fovea::io::read_npy(p); });
}

TEST(FuzzRegressions, Safetensors100GBClaimIsRefusedBeforeAllocating) {
  TempDir dir;
  const std::string path = dir.file("big.safetensors");
  std::string header = "{\"w\":{\"dtype\":\"F32\",\"shape\":[" + std::to_string(kFloats100GB) +
                       "],\"data_offsets\":[0," + std::to_string(k100GB) + "]}}";
  header.append((8 - header.size() % 8) % 8, ' ');
  fovea_test::write_raw(path, int64_bytes(header.size()) + header + std::string(512, '\0'));
  expect_refused_without_allocating(path, [](const std::string& p) { fovea::io::read_safetensors(p); });
}

TEST(FuzzRegressions, TorchZipArchive100GBStorageClaimIsRefusedBeforeAllocating) {
  TempDir dir;
  const std::string path = dir.file("big.pt");
  fovea::io::detail::write_zip_atomic(
      path, {{"archive/data.pkl", state_dict_pickle(kFloats100GB, false)}, {"archive/data/0", std::string(256, '\0')}},
      false);
  expect_refused_without_allocating(path, [](const std::string& p) { fovea::io::read_state_dict(p); });
}

TEST(FuzzRegressions, TorchLegacyArchive100GBStorageClaimIsRefusedBeforeAllocating) {
  TempDir dir;
  const std::string path = dir.file("big_legacy.pt");
  fovea_test::write_raw(path, fovea_test::legacy_file(state_dict_pickle(kFloats100GB, true),
                                                      {{"0", kFloats100GB, std::string(256, '\0')}}));
  expect_refused_without_allocating(path, [](const std::string& p) { fovea::io::read_state_dict(p); });
}

TEST(FuzzRegressions, Hdf5100GBDatasetClaimIsRefusedBeforeAllocating) {
  // A dataset that was created but never written stores no bytes: its header
  // alone claims the 100 GB (reading it would return the fill value).
  TempDir dir;
  const std::string path = dir.file("big.h5");
  {
    H5::H5File f(path, H5F_ACC_TRUNC);
    const hsize_t dims[1] = {static_cast<hsize_t>(kFloats100GB)};
    f.createDataSet("responses_train", H5::PredType::IEEE_F32LE, H5::DataSpace(1, dims));
  }
  expect_refused_without_allocating(path, [](const std::string& p) { fovea::io::read_h5_dataset(p, "responses_train"); });
}

TEST(FuzzRegressions, Mat100GBVariableClaimIsRefusedBeforeAllocating) {
  // A MAT v5 file by hand: the 128-byte header, then one miMATRIX element for
  // a double array `x` of 200000 x 125000 (200 GB) holding one value.
  auto u32 = [](uint32_t v) { return std::string(reinterpret_cast<const char*>(&v), 4); };
  std::string header = "MATLAB 5.0 MAT-file, written by hand for fovea's tests";
  header.resize(116, ' ');
  header += std::string(8, '\0') + std::string("\x00\x01", 2) + "IM";
  std::string matrix = u32(6) + u32(8) + u32(6) + u32(0)                    // array flags: mxDOUBLE_CLASS
                       + u32(5) + u32(8) + u32(200000) + u32(125000)        // dimensions (int32)
                       + u32((1u << 16) | 1u) + std::string("x\0\0\0", 4)  // name, small element
                       + u32(9) + u32(8) + std::string(8, '\0');           // real part: one double
  TempDir dir;
  const std::string path = dir.file("big.mat");
  fovea_test::write_raw(path, header + u32(14) + u32(static_cast<uint32_t>(matrix.size())) + matrix);
  ASSERT_EQ(fovea::io::mat_variable_names(path), std::vector<std::string>{"x"});
  // Refused for its claim (200000 x 125000 elements), not after matio failed to allocate it.
  expect_refused_without_allocating(path, [](const std::string& p) {
    const std::string message = fovea::test::error_of([&] { fovea::io::read_mat_variable(p, "x"); });
    EXPECT_NE(message.find("25000000000 elements"), std::string::npos) << message;
    throw fovea::Error(message);
  });
}

TEST(FuzzRegressions, ZipEntryClaimingMoreThanTheArchiveIsRefusedBeforeAllocating) {
  // A torch.save zip (Python's zipfile) whose one stored entry, archive/data.pkl
  // (7 bytes), has its sizes in both headers patched to 4294967279. libzip
  // accepts the archive; the reader allocated (and zero-filled) a 4 GB string
  // for the entry before reading it.
  TempDir dir;
  const std::string path = dir.file("big_entry.pt");
  fovea_test::write_raw(path, fovea_test::from_hex(
      "504b0304140000000000789d875df29102c5efffffffefffffff10000000617263686976652f646174612e706b6c80027d71002e"
      "504b01021403140000000000789d875df29102c5efffffffefffffff100000000000000000000000800100000000617263686976"
      "652f646174612e706b6c504b050600000000010001003e000000340000000000"));
  const auto start = std::chrono::steady_clock::now();
  const std::string message = fovea::test::error_of([&] { fovea::io::read_torch_archive(path); });
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 1.0);
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("4294967279"), std::string::npos) << message;
}

// ---- inputs that crashed or hung a reader ----

// torch._tensor._rebuild_from_type_v2(func, type, args) calls what `func`
// names with `args`, and args may hold the next such call: 100000 of them
// nested in 800 KB of pickle recursed once per level and overflowed the stack
// (a segfault of `fovea import` on a crafted .pt). Now refused past 512 levels.
TEST(FuzzRegressions, PickleChainOfNestedCallsIsRefusedNotAStackOverflow) {
  std::string b("\x80\x02", 2);
  b += "ctorch._tensor\n_rebuild_from_type_v2\n";  // the callable...
  b += std::string("q\x00", 2);                      // ...kept in memo 0
  b += ")";                                           // the innermost arguments: ()
  // Each level: memo 1 = args; pop; (callable, None, args) -> the next args.
  for (int i = 0; i < 100000; ++i) b += std::string("q\x01" "0" "h\x00" "N" "h\x01" "\x87", 9);
  b += "R.";
  const std::string message = fovea::test::error_of([&] { fovea::io::parse_pickle(b, "deep.pkl"); });
  EXPECT_NE(message.find("deep.pkl"), std::string::npos) << message;
  EXPECT_NE(message.find("nested more than 512"), std::string::npos) << message;
}

// Nine anchors, each a list of ten aliases of the one before ("billion
// laughs"): 511 bytes that expand to 10^9 values. parse_yaml ran for minutes
// (`fovea train --config` on it was still busy after 60 s); it now stops
// after 100000 values with an error naming the file.
TEST(FuzzRegressions, YamlAliasBombIsRefusedQuickly) {
  std::string text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 9; ++i) {
    text += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int k = 0; k < 10; ++k) text += (k ? ", *a" : "*a") + std::to_string(i - 1);
    text += "]\n";
  }
  ASSERT_LT(text.size(), 600u);
  const auto start = std::chrono::steady_clock::now();
  const std::string message = fovea::test::error_of([&] { fovea::io::parse_yaml(text, "laughs.yaml"); });
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 2.0);
  EXPECT_NE(message.find("laughs.yaml"), std::string::npos) << message;
  EXPECT_NE(message.find("more than 100000 values"), std::string::npos) << message;
  // Aliases as configs use them still read.
  const nlohmann::json ok = fovea::io::parse_yaml("base: &b {lr: 0.1}\nrun: *b\n", "ok.yaml");
  EXPECT_EQ(ok["run"]["lr"].get<double>(), 0.1);
}

// fuzz_yaml's timeout, minimised to 86 bytes: a quoted scalar followed by more
// text, then a line that starts with ','. yaml-cpp 0.7 then reports empty
// documents forever without reading on; YAML::LoadAll collected them until
// memory ran out (`fovea train --config` on the 680-byte original reached
// 23 GB). parse_yaml now asks for at most two documents.
TEST(FuzzRegressions, YamlParserThatStopsAdvancingIsRefusedQuickly) {
  const std::string text = "'model, hoxa's publishexxxxxxxxxxxxxxxxxxxxx  # natmovical cliph\n  ,# data.layip_chann\n";
  const auto start = std::chrono::steady_clock::now();
  const std::string message = fovea::test::error_of([&] { fovea::io::parse_yaml(text, "stuck.yaml"); });
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 1.0);
  EXPECT_NE(message.find("stuck.yaml: invalid YAML at line"), std::string::npos) << message;
}

// fuzz_mat's out-of-memory: 71 bytes that matio reads as a MAT v4 file whose
// first record's name length is 0x21000002; Mat_Open allocated those 553 MB
// before reading the name. open_mat now walks the v4 records first.
TEST(FuzzRegressions, MatV4NameLengthBeyondTheFileIsRefusedBeforeMatioAllocates) {
  TempDir dir;
  const std::string path = dir.file("oom.mat");
  fovea_test::write_raw(path, fovea_test::from_hex(
      "0000000002002000030000000000000002000021007800000000000000f03f0000000000"
      "0000400000000000000840800000000000104000000000000014400000000000000040"));
  for (const auto& read : std::vector<std::function<void()>>{
           [&] { fovea::io::mat_variable_names(path); }, [&] { fovea::io::read_mat_variable(path, "x"); }}) {
    const std::string message = fovea::test::error_of(read);
    EXPECT_NE(message.find(path), std::string::npos) << message;
    EXPECT_NE(message.find("553648130"), std::string::npos) << message;  // the name length it claims
  }
  // A valid v4 file still reads (matio's own writer).
  const std::string good = dir.file("v4.mat");
  mat_t* mat = Mat_CreateVer(good.c_str(), nullptr, MAT_FT_MAT4);
  ASSERT_NE(mat, nullptr);
  double x[6] = {1, 2, 3, 4, 5, 6};
  size_t dims[2] = {2, 3};
  matvar_t* v = Mat_VarCreate("x", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, dims, x, 0);
  Mat_VarWrite(mat, v, MAT_COMPRESSION_NONE);
  Mat_VarFree(v);
  Mat_Close(mat);
  const at::Tensor t = fovea::io::read_mat_variable(good, "x");
  EXPECT_TRUE(at::equal(t, at::tensor({1.0, 3.0, 5.0, 2.0, 4.0, 6.0}, at::kDouble).reshape({2, 3})));
}

// Files kept as their non-zero byte runs (offset, hex); every other byte is 0.
struct SparseFile {
  size_t size;
  std::vector<std::pair<size_t, const char*>> runs;
  std::string bytes() const {
    std::string out(size, '\0');
    for (const auto& [offset, hex] : runs) out.replace(offset, std::strlen(hex) / 2, fovea_test::from_hex(hex));
    return out;
  }
};

// fuzz_hdf5 crash-e90d3263...: fuzz_seeds' layout.h5 (7112 bytes) mutated so that a
// contiguous dataset stores fewer bytes than its shape needs; libhdf5 1.10.8
// segfaulted in H5D__contig_read (memcpy from address 0).
const SparseFile kHdf5ContigCrash = {7112, {
    {0, "894844460d0a1a0a0000000000080800040010"},
    {32, "ffffffffffffffffc81b000000000000ffffffffffffffff"},
    {64, "600000000000000001000000000000008800000000000000a80200000000000001000100010000001800000000000000"
          "11001000000000008800000000000000a8020000000000005452454500000100ffffffffffffffffffffffffffffffff"},
    {168, "300400000000000028"},
    {251, "01"},
    {368, "7e"},
    {680, "484541500000000058000000000000003000000000000000c802"},
    {720, "726573706f6e7365735f73657373690073657373696f6e5f696e666f00000000747261696e0000000100000000000000"
          "28"},
    {800, "010006000100000000010000000000000100280000000000010201000000000002000000000000000300000000000000"
          "02000000000000000300000000000000030018000100000011201f00042a000000002000170800177f00000000000000"
          "0500080001000000020202010000000008001800000000000301000800000000000018"},
    {944, "1200080000000000010000007a06176b000068"},
    {1072, "534e4f440100030008000000000000002003"},
    {1120, "180000000000000078050000000000000100000000000000a00500000000000000100000000000002800000000000000"
          "c0070000000000000100000000000000d012000000000000f014"},
    {1400, "010001000100000018000000000000001100100000000000a00500000000000000100000000000005452454500000100"
          "ffffffffffffffffffffffffffffffff"},
    {1472, "881100000000000008"},
    {1984, "010001000100000018000000000000001100100000000000d012000000000000f014"},
    {2054, "803f0000004000004040000080400000a040"},
    {2080, "010000000000000002"},
    {2102, "f03f000000000000f03f000000000000f03f000000000000f03f"},
    {4096, "4845415000000000580000000000000010000000000000002010"},
    {4136, "726f695f69647300010000000000000048"},
    {4216, "010006000100000000010000000000000100180000000000010101000000000003000000000000000300000000000000"
          "030010000100000010080000080000000000400000000000050008000100000002020201000000000800180000000000"
          "0301180800000000000018"},
    {4336, "1200080000000000010000007a06176b000080"},
    {4488, "534e4f440100010008000000000000007810"},
    {4816, "5452454500000100ffffffffffffffffffffffffffffffff"},
    {4848, "281800000000000008"},
    {5360, "4845415000000000580000000000000018000000000000001015"},
    {5400, "726573706f6e7365"},
    {5416, "010000000000000040"},
    {5480, "0100010001000000180000000000000011001000000000009015000000000000b0170000000000005452454500000100"
          "ffffffffffffffffffffffffffffffff"},
    {5552, "801a00000000000008"},
    {6064, "484541500000000058000000000000002000000000000000d017"},
    {6104, "666972696e675f726174655f31306d73"},
    {6128, "010000000000000038"},
    {6184, "534e4f44010001000800000000000000681500000000000001000000000000009015000000000000b017"},
    {6512, "010006000100000000010000000000000100280000000000010201000000000002000000000000000200000000000000"
          "02000000000000000200000000000000030018000100000011203f000800000000004000340b0034ff03000000000000"
          "05000800010000000202020100000000080018000000000003000000000000000f0020"},
    {6656, "1200080000000000010000007a06176b000068"},
    {6784, "534e4f440100010008000000000000007019"},
}};

// fuzz_retina_layout oom-c2c02ab5...: fuzz_seeds' trials_3d.h5 (2088 bytes) with a
// numeric type whose stored size is corrupt; H5Dread allocated an 805 MB
// conversion buffer.
const SparseFile kHdf5HugeElementOom = {2088, {
    {0, "894844460d0a1a0a0000000000080800040010"},
    {32, "ffffffffffffffff2808000000000000ffffffffffffffff"},
    {64, "600000000000000001000000000000008800000000000000a80200000000000001000100010000001800000000000000"
          "11001000000000008800000000000000a8020000000000005452454500000100ffffffffffffffffffffffffffffffff"},
    {168, "300400000000000008"},
    {680, "484541500000000058000000000000002800000000000000c802"},
    {720, "726573706f6e7365735f747261696e00726573706f6e7365735f746573740000010000000000000030"},
    {800, "010006000100000000010000000000000100280000000000010201000000000001000000000000000400000000000000"
          "01000000000000000400000000000000030018000100000011201f000400000000002000170800177f00000000000000"
          "0500080001000000020202010000000008001800000000000301000800000000000010"},
    {944, "1200080000000000010000007a06176b000068"},
    {1072, "534e4f440100020018000000000000007805"},
    {1120, "08000000000000002003"},
    {1267, "03"},
    {1400, "0100060001000000000100000000000001003800000000000103010000000001"},
    {1440, "010000000000000003000000000000000200000000000000010000000000000003000000000000000300180001000000"
          "11201f000400003000002000170800177f00000000000000050008000100000002020201000000000800180000000000"
          "0301100800000000000018"},
    {1560, "1200080000000000010000007a06176b000058"},
    {2048, "1851f93ee906353f6180223f293b523fd8b7d23d828ae23e88004e3f5de4353f600a443f59fb0a3f"},
}};

TEST(FuzzRegressions, Hdf5ContiguousDatasetShorterThanItsShapeIsRefusedNotASegfault) {
  TempDir dir;
  const std::string path = dir.file("layout.h5");
  fovea_test::write_raw(path, kHdf5ContigCrash.bytes());
  int refused = 0;
  for (const std::string& name : fovea::io::h5_members(path, "/")) {
    if (!fovea::io::h5_has(path, name)) continue;
    try {
      fovea::io::read_h5_dataset(path, name);
    } catch (const fovea::Error& e) {
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
      ++refused;
    }
  }
  EXPECT_GE(refused, 1);
}

TEST(FuzzRegressions, Hdf5CorruptElementSizeIsRefusedBeforeLibhdf5Allocates) {
  TempDir dir;
  const std::string path = dir.file("trials_3d.h5");
  fovea_test::write_raw(path, kHdf5HugeElementOom.bytes());
  bool saw_size_error = false;
  for (const std::string& name : fovea::io::h5_members(path, "/")) {
    if (!fovea::io::h5_has(path, name)) continue;
    try {
      fovea::io::read_h5_dataset(path, name);
    } catch (const fovea::Error& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find(path), std::string::npos) << message;
      saw_size_error = saw_size_error || message.find("bytes (corrupt file)") != std::string::npos;
    }
  }
  EXPECT_TRUE(saw_size_error);
}

// fuzz_mat's second out-of-memory: fuzz_seeds' v5.mat (455 bytes) mutated so
// that, inside a 96-byte array, the flags sub-element claims 4096 bytes and
// the dimensions sub-element 0x40080000; matio allocated 2 GB for the
// dimensions while listing the variables. Refused at the first bad size.
TEST(FuzzRegressions, MatV5SubElementLargerThanItsArrayIsRefusedBeforeMatioAllocates) {
  TempDir dir;
  const std::string path = dir.file("oom_v5.mat");
  fovea_test::write_raw(path, fovea_test::from_hex(
      "64000000000000002e30204d41542d66696c652c20506c6174666f726d3a207838365f36342d70632d6c696e75782d676e75"
      "2c20437265617465000000000000084000000000000010400000000000001440000000006e204465632020372031393a3138"
      "3a313820323032360a0020202020202020202020202020200001494d0e000000600000000600000000100000000000000000"
      "0000050000000000084000000000000010400000000000001440000000006e204465632020372031393a3100000008000000"
      "0000000000000000000000000000000000000000000000000000000000000000000000000000000010000000000000000000"
      "000000001040000000000000144000000000000018400e000000400000000600000008000000090000000000000005000000"
      "0c000000020000006d6700020000000800000000010203040506070e0000003400000006000000080000000b000000000000"
      "00050000000800000001000000030000000100010075000000040000000600000001000200ffff00000e0000003800000006"
      "0000000800000009020000000000000500000008000000020000010100000001000100620000000200000002000000010000"
      "0000000000"));
  const std::string message = fovea::test::error_of([&] { fovea::io::mat_variable_names(path); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("a sub-element of 4096 bytes in an array of 96"), std::string::npos) << message;
}
