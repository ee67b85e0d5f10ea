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
#include <sys/resource.h>

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

// fuzz_mat's third out-of-memory (oom-7e9862b6...): fuzz_seeds' v5.mat mutated
// to 433 bytes. In the second array (64 bytes) the flags tag is a small
// element (0x002c0006); matio reads the flags as a full tag anyway, so its
// dimensions tag lands on bytes that claim 0x12000000 bytes of dimensions,
// and it allocated 8 bytes per dimension (604 MB) while listing variables.
// The dimensions and the name are now checked where matio reads them.
TEST(FuzzRegressions, MatV5DimensionsAsMatioReadsThemAreCheckedBeforeMatioAllocates) {
  TempDir dir;
  const std::string path = dir.file("oom_dims.mat");
  fovea_test::write_raw(path, fovea_test::from_hex(
      "4d41544c414220356e30204d41542d66696c652c20506c6174666f726d3a207838365f36342d70632d6c696e75782d676e75"
      "2c20437265617465642062793a206c69626d6174696f2076312e352e3233206f6e204d6f6e204465632020372031393a3138"
      "3a313820323032360a0020202020202020202020202020200001494d0e000000600000000600000008000000060000000000"
      "00000500000008000000020000000300000001000100780000000900000030000000000000000000f03f0000000000000040"
      "00000000000008400000000000001040000000000000144000000000000018400e0000004000000006002c0008000000093f"
      "00000000000005000000000000120206000002000000020000000000000001000300696d6700020000000800000000010203"
      "040506070e0000003800000006000000080000000b0000000000000005000000080000000100000003000000010001007500"
      "0000040000000600000001000200ffff00000e00000038000000060000000800000009020000000000000500000008000000"
      "020000000100000001000100620000000200000002300000000100000000000000"));
  ASSERT_EQ(std::filesystem::file_size(path), 433u);
  for (const auto& read : std::vector<std::function<void()>>{
           [&] { fovea::io::mat_variable_names(path); }, [&] { fovea::io::read_mat_variable(path, "x"); }}) {
    const std::string message = fovea::test::error_of(read);
    EXPECT_NE(message.find(path), std::string::npos) << message;
    EXPECT_NE(message.find("dimensions of 301989888 bytes in an array of 64 at byte 256"), std::string::npos)
        << message;
  }
}

// A name tag that claims more bytes than its array (matio allocates the name
// before reading it): an array of matio's own writer with the name length
// patched to 0x7ffffff0.
TEST(FuzzRegressions, MatV5NameLongerThanItsArrayIsRefusedBeforeMatioAllocates) {
  TempDir dir;
  const std::string path = dir.file("long_name.mat");
  mat_t* mat = Mat_CreateVer(path.c_str(), nullptr, MAT_FT_MAT5);
  ASSERT_NE(mat, nullptr);
  double x[2] = {1, 2};
  size_t dims[2] = {1, 2};
  matvar_t* v = Mat_VarCreate("long_variable_name", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, dims, x, 0);
  Mat_VarWrite(mat, v, MAT_COMPRESSION_NONE);
  Mat_VarFree(v);
  Mat_Close(mat);
  ASSERT_EQ(fovea::io::mat_variable_names(path), std::vector<std::string>{"long_variable_name"});
  // The array starts at byte 128: tag (8), flags (16), dimensions (8 + 8), then the name tag.
  std::string bytes = fovea_test::read_raw(path);
  const size_t name_tag = 128 + 8 + 16 + 16;
  uint32_t tag[2];
  std::memcpy(tag, bytes.data() + name_tag, 8);
  ASSERT_EQ(tag[0], 1u);   // miINT8
  ASSERT_EQ(tag[1], 18u);  // strlen("long_variable_name")
  tag[1] = 0x7ffffff0u;
  std::memcpy(&bytes[name_tag], tag, 8);
  fovea_test::write_raw(path, bytes);
  const std::string message = fovea::test::error_of([&] { fovea::io::mat_variable_names(path); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("a name of 2147483632 bytes"), std::string::npos) << message;
}


// fuzz_hdf5's segfaults crash-4370b463... and crash-91f25c45... and
// fuzz_retina_layout's crash-f1fb7e96... (fuzz_seeds' files, mutated): a
// group's B-tree names a symbol-table node at the undefined address
// 0xffffffffffffffff. libhdf5 1.10.8's range check adds the node's size to
// that address, which wraps around, and its metadata accumulator
// (H5F__accum_read, from H5Gget_info -> H5G__node_sumup) then copied from a
// null buffer. fovea now reads HDF5 files through its own file driver, which
// refuses such a read: listing the group is a fovea::Error.
const SparseFile kHdf5UndefinedNodeA = {7112, {
    {0, "894844460d0a1a0a0000000000080800040010"},
    {32, "ffffffffffffffffc81b000000000000ffffffffffffffff"},
    {64, "600000000000000001000000000000008800000000000000a80200000000000001000100010000001800000000000000"
          "11001000000000008800000000000000a8020000000000005452454500000100ffffffffffffffffffffffffffffffff"},
    {168, "300400000000000028"},
    {680, "484541500000000058000000000000003000000000000000c802"},
    {716, "df0d0800000000006f6e7365735f747261696e0073657373696f6e5f696e666f00000000747261696e00000001000000"
          "0000000028"},
    {800, "010006000100000000010000000000000100280000000000010201000000000002000000000000000300000000000000"
          "02000000000000000300000000000000030018000100000011201f000400000000002000170800177f00000000000000"
          "0500080001000000020202010000000008001800000000000301000800000000000018"},
    {944, "1200080000000000010000007a06176b000068"},
    {1072, "534e4f440100030008000000000000002003"},
    {1120, "180000000000000078050000000000000100000000000000a00500000000000000100000000000002800000000000000"
          "c0070000000000000100000000000000d012000000000000f014"},
    {1400, "010001000100000018000000000000001100100000000000a00500000000000000100000000000005452454500000100"
          "ffff000000000000ffffffffffffffff0808000000000000ffffffffffffffff"},
    {1488, "600000000000000001000000000000008800000000000000a80200000000000001000100010000001800000000000000"
          "11001000000000008800000000000000a8020000000000005452454500000100ffffffffffffffffffffffffffffffff"},
    {1592, "300400000000000008"},
    {1786, "60"},
    {2104, "484541500000000058000000000000001000000000000000c802"},
    {2144, "7800000000000000010000000000000048"},
    {2224, "0100060001000000000100000000000001000800000000000100000000000000030018000000000000000f0008000000"
          "00004000340b0034ff030000000000000500080001000000020202010000000008001800000000000301000800000000"
          "000008"},
    {2336, "1200080000000000010000007a06176b000088"},
    {2496, "534e4f440100010008000000000000002003"},
    {2672, "10"},
    {5175, "4845415000000000580000000000000018000000000000001015"},
    {5215, "726573706f6e7365"},
    {5231, "010000000000000040"},
    {5295, "0100010001000000180000000000000011"},
    {6441, "1800000000000301300800000000000020"},
    {6471, "1200080000000000010000007a06176b000068"},
    {6599, "534e4f440100010008000000000000007019"},
    {6718, "06"},
}};
const SparseFile kHdf5UndefinedNodeB = {2081, {
    {0, "894844460d0a1a0a0000000000080800040010"},
    {32, "ffffffffffffffff0808000000000000ffffffffffffffff"},
    {64, "600000000000000001000000000000008800000000000000a80200000000000001000100010000001800000000000000"
          "11001000000000008800000000000000a8020000000000005452454500000100ffffffffffffffffffffffffffffffff"
          "ffffffffffffffffffffffffffffffffff"},
    {185, "300400000000000008"},
    {469, "07"},
    {568, "0a"},
    {705, "484541500000000058000000000000001000000000000000c802"},
    {745, "7800000000000000010000000000000048"},
    {825, "0100060001000000000100000000000001000800000000000100000000000000030018000000000000000f0008000000"
          "00004000330b0034ff030000000000000500080001000000020202010000000008001800000000000301000800000000"
          "000008"},
    {937, "1200080000000000010000007a06176b000088"},
    {1097, "534e4f440100010008000000000000002003"},
    {1501, "4e32483539457863657074696f6e45"},
    {1749, "08"},
    {2079, "f83f"},
}};
const SparseFile kRetinaUndefinedNode = {2536, {
    {0, "894844460d0a1a0a0000000000080800040010"},
    {32, "ffffffffffffffff2808000000000000ffffffffffffffff"},
    {64, "600000000000000001000000000000008800000000000000a80200000000000001000100010000001800000000000000"
          "11001000000000008800000000000000a8020000000000005452454500000100ffffffffffffffffffffffffffffffff"
          "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
          "ffffffffffffffffffffffffffffffffffffffffffffffffff"},
    {241, "300400000000000008"},
    {689, "484541500000000058000000000000002800000000000000c802"},
    {729, "726573f06f6e7365735f747261696e00726573706f6e7365735f746573740000010000000000000030"},
    {809, "010006000100000000010000000000000100280000000000010201000000000001000000000000000400000000000000"
          "01000000000000000400000000000000030018000100000011201f000400000000002000170800177f00000000000000"
          "0500080001000000020202010000000008001800000000000301000800000000000010"},
    {953, "1200080000000000010000007a06176b000068"},
    {1081, "534e4f440100020018000000000000007805"},
    {1129, "08000000000000002003000000000005"},
    {1276, "03"},
    {1409, "010006000100000000010000000000000100380000000000010301000000000002000000000000000100000000000000"
          "0300000000000000020000000000000001000000000000000300000000000000030018000100000011201f0004000000"
          "00002000170800177f000000000000000500080001000000020202010000000008001800000000000301100800000000"
          "000018"},
    {1569, "1200080000000000010000007a06176b000058"},
    {1676, "08000000000000002003"},
    {1823, "03"},
    {1956, "010006000100000000010000000000000100380000000000010301000000000002000000000000000100000000000000"
          "0300000000000000020000000000000001000000000000000300000000000000030018000100000011201f0004000000"
          "00002000170800177f"},
    {2496, "1851f93ee906353f6180223f293b523fd8b7d23d828ae23e88004e3f5de4353f600a443f59fb0a3f"},
}};
namespace {

// Lists every group down to two levels, as fuzz_hdf5 does; returns the errors.
std::vector<std::string> list_groups_errors(const std::string& path) {
  std::vector<std::string> errors;
  std::function<void(const std::string&, int)> walk = [&](const std::string& group, int depth) {
    std::vector<std::string> names;
    try {
      names = fovea::io::h5_members(path, group);
    } catch (const fovea::Error& e) {
      errors.push_back(e.what());
      return;
    }
    for (const std::string& name : names) {
      const std::string member = group == "/" ? name : group + "/" + name;
      try {
        if (!fovea::io::h5_has(path, member)) continue;
        fovea::io::read_h5_dataset(path, member);
      } catch (const fovea::Error& e) {
        if (depth < 2) walk(member, depth + 1);
      }
    }
  };
  walk("/", 0);
  return errors;
}

}  // namespace

TEST(FuzzRegressions, Hdf5GroupNodeAtTheUndefinedAddressIsRefusedNotASegfault) {
  TempDir dir;
  int i = 0;
  for (const SparseFile* file : {&kHdf5UndefinedNodeA, &kHdf5UndefinedNodeB, &kRetinaUndefinedNode}) {
    const std::string path = dir.file("undefined_node_" + std::to_string(i++) + ".h5");
    fovea_test::write_raw(path, file->bytes());
    const std::vector<std::string> errors = list_groups_errors(path);
    ASSERT_FALSE(errors.empty()) << path;
    for (const std::string& message : errors) {
      EXPECT_NE(message.find(path), std::string::npos) << message;
      EXPECT_NE(message.find("cannot list group"), std::string::npos) << message;
    }
  }
  // Valid files still read through the checked driver, nested groups included.
  const std::string good = dir.file("good.h5");
  fovea::io::write_h5(good, {{"a/b/x", at::arange(6, at::kFloat).reshape({2, 3})}, {"y", at::arange(3, at::kLong)}});
  EXPECT_EQ(fovea::io::h5_members(good, "/"), (std::vector<std::string>{"a", "y"}));
  EXPECT_TRUE(at::equal(fovea::io::read_h5_dataset(good, "a/b/x"), at::arange(6, at::kFloat).reshape({2, 3})));
  EXPECT_TRUE(list_groups_errors(good).empty());
}

// fuzz_retina_layout's oom-7c878326... (fuzz_seeds' session.h5, mutated): the
// root group's local heap claims a data segment of 2952790016 bytes in a
// 7104-byte file. libhdf5 1.10.8 allocates the segment's buffer
// (H5HL_protect -> H5AC_protect -> H5C_protect -> malloc) before reading it,
// with no check against the file's size, so no guard in fovea comes before
// that allocation; the read that follows is then refused and listing the
// group is a fovea::Error. What is checked here: the error, and that the
// buffer is never touched (the process's peak RSS does not grow by it).
const SparseFile kRetinaHugeLocalHeap = {7104, {
    {0, "894844460d0a1a0a0000000000080800040010"},
    {32, "ffffffffffffffffc01b000000000000ffffffffffffffff"},
    {64, "600000000000000001000000000000008800000000000000a80200000000000001000100010000001800000000000000"
          "11001000000000008800000000000000a8020000000000005452454500000100ffffffffffffffffffffffffffffffff"},
    {168, "300400000000000028"},
    {680, "4845415000000000000000b0000000006800000000000000b818"},
    {800, "010006000100000000010000000000000100280000000000010201000000000002000000000000000400000000000000"
          "02000000000000000400000000000000030018000100000011201f000400000000002000170800177f00000000000000"
          "0500080001000000020202010000000008001800000000000301000800000000000020"},
    {944, "1200080000000000010000007a06176b000068"},
    {1072, "534e4f440100060048000000000000008815"},
    {1120, "18000000000000007805"},
    {1160, "08000000000000002003"},
    {1200, "58003f000000000028070000000000000100000000000000981600000000000050070000000000003800000000000000"
          "7814"},
    {1280, "2800000000000000880600000000000001"},
    {1305, "10000000000000b006"},
    {1400, "010006000100000000010000000000000100280000000000010201000000000002000000000000000300000000000000"
          "02000000000000000300000000000000030018000100000011201f000400000000002000170800177f00000000000000"
          "0500080001000000020202010000000008001800000000000301200800000000000018"},
    {1544, "1200080000000000010000007a06176b000068"},
    {1672, "0100010001000000180000000000000011001000000000000010000000000000b0060000000000004845415000000000"
          "58000000000000001000000000000000d006"},
    {1752, "7465737400000000010000000000000048"},
    {1832, "010001000100000018000000000000001100100000000000981600000000000050070000000000004845415000000000"
          "580000000000000010000000000000007007"},
    {1912, "726f695f69647300010000000000000048"},
    {2048, "748a553f2bb1763f5b5e733f9636413fb404e23ecc50e43e905e1a3dd27e603fe5041b3f5e89543f880c203e1e94c13e"
          "5a73eb3eb8415c3e8a9bf43e2068893e71a0573fb9ce2a3f6e5b053f72b7183fba103d3f6ba90f3f0096913e1d676b3f"
          "f85d333e51e8063ff4aa4e3eea86113fab79243fa0ca253fb0dae73dae246b3f9cc51e3fc6f0f93ee882923dd0ba883d"
          "4ef3df3e975e483f"},
    {2208, "01"},
    {2736, "010000000000000001"},
    {3194, "fe"},
    {3565, "32"},
    {4096, "5452454500000100ffffffffffffffffffffffffffffffff"},
    {4128, "301300000000000008"},
    {4640, "110006000100000000010000000000000100360000000000010301000000000002000000000000000200000000000000"
          "0300000000000000020000000000000002000000000000000300000000000000030018000100000011201f0004000000"
          "00002000170800177f000000000000000500080001000000020202010000000008001800000000000301380800000000"
          "000030"},
    {4800, "1200080000000000010000007a06176b000058"},
    {4912, "534e4f440100010008000000000000002012"},
    {5240, "010006000100000000010000000000000100480000000000010401000000000001000000000000000200000000000000"
          "020000000000000002000000000000000100000000000000020000000000000002000000000000000200000000000000"
          "030018000100000011201f000400000000002000170800177f0000000000000005000800010000000202020100000000"
          "08001800000000000301680800000000000020"},
    {5416, "1200080000000000010000007a06176b000048"},
    {5512, "010006000100000000010000000000000100280000000000010201000000000002000000000000000200000000000000"
          "02000000000000000200000000000000030018000100000011201f000400000000002000170800177f00000000000000"
          "0500080001000000020202010000000008001800000000000301880800000000000010"},
    {5656, "1200080000000000010000007a06176b000068"},
    {5692, "01"},
    {5784, "5452454500000100ffffffffffffffffffffffffffffffff"},
    {5816, "781a00000000000008"},
    {6336, "726573706f6e7365735f747261696e00726573706f6e7365735f746573740000746573745f62795f747269616c000000"
          "7374696d756c75735f65787472610000726573706f6e7365735f65787472610073657373696f6e5f696e666f00000000"
          "010000000000000048"},
    {6504, "010006000100000000010000000000000100180000000000010101000000000002000000000000000200000000000000"
          "030010000100000010080000080000000000400000000000050008000100000002020201000000000800180000000000"
          "0301980800000000000010"},
    {6624, "1200080000000000010000007a06176b000080"},
    {6776, "534e4f4400000000001200080000000000010000007a06176b000068"},
    {6821, "01"},
    {6913, "5452454500000100ff"},
}};
namespace {

long peak_rss_kb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

}  // namespace

TEST(FuzzRegressions, Hdf5LocalHeapClaiming3GBIsAnErrorWithoutTouchingMemory) {
  TempDir dir;
  const std::string path = dir.file("session.h5");
  fovea_test::write_raw(path, kRetinaHugeLocalHeap.bytes());
  const long before = peak_rss_kb();
  const auto start = std::chrono::steady_clock::now();
  const std::string message = fovea::test::error_of([&] { fovea::io::h5_members(path, "/"); });
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 1.0);
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("cannot list group '/'"), std::string::npos) << message;
  EXPECT_LT(peak_rss_kb() - before, 256L * 1024) << "peak RSS grew by " << (peak_rss_kb() - before) << " kB";
}

// fuzz_mat's out-of-memory oom-e26e2aea... (182 bytes): "MI" at byte 126
// with the version word 0xadad. matio takes a file for v5 or v7.3 by its
// version only and read this one as v4, trusting a name length beyond the
// file; fovea walked it as v5 (for the tag) and checked nothing. The v4
// records are now walked for every file whose version is not v5's or v7.3's.
TEST(FuzzRegressions, MatTaggedFileWithAnUnknownVersionIsCheckedAsMatioReadsIt) {
  TempDir dir;
  const std::string path = dir.file("tagged_v4.mat");
  fovea_test::write_raw(path, fovea_test::from_hex(
      "00000000021f40003e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e"
      "3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3eadadadadadadadadadadadadadadadad"
      "adadadadadadadadadadadadadadadadadadadadadadadadadad4d49adadadadadadadadadadadadadadadadadadadadadad"
      "adadadadadadadadadadadadadadadadad4d49adadadadad000018b4ffffff40"));
  ASSERT_EQ(std::filesystem::file_size(path), 182u);
  const std::string message = fovea::test::error_of([&] { fovea::io::mat_variable_names(path); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("read as v4"), std::string::npos) << message;
}

// fuzz_mat's oom-b5458952... (fuzz_seeds' v5.mat mutated, 432 bytes): an
// array whose name tag claims 4294967043 bytes; matio allocated the padded
// name (4294967049 bytes) before reading it.
TEST(FuzzRegressions, MatV5NameLengthOf4GBIsRefusedBeforeMatioAllocates) {
  TempDir dir;
  const std::string path = dir.file("oom_name.mat");
  fovea_test::write_raw(path, fovea_test::from_hex(
      "4d41544c414220352e30204d4195696e7433322c20506c6174666f726d3a207834335f36342d70632d6c696e75782d676e75"
      "2c20437265617465642062793a206c69626d6174696f2076312e352e3233206f6e204d6f6e204465632020372032323a3231"
      "3a353020323032360a0020202020202020202020202020200001494d0e000000600000000600000008000000060000000000"
      "00000200000003000000010001007800000009000000300000000000000030000000000000000000f03f0000000000000040"
      "00000000000008400000000000001040000000000000144000000000000018400e0000004000000006000000080000000900"
      "000000000000050000000c00000002000000020000000200000000f03f000000000000004000020000000800000000010203"
      "040506070e0000003800000006000000080000000b000000000000003d000000080000000100000003ffffffff0001007500"
      "0000040000000600000001000200ffff00000e00000038000000060000000800000009020000000000000500000008000000"
      "0200000001000000010001006200000002000000020000000100000000000000"));
  ASSERT_EQ(std::filesystem::file_size(path), 432u);
  const std::string message = fovea::test::error_of([&] { fovea::io::mat_variable_names(path); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("a name of 4294967043 bytes"), std::string::npos) << message;
}

// fuzz_mat's oom-f8f51d44... (461 bytes): a 64-byte cell array of
// 2 x 2 x 134217730 cells; matio allocated a pointer per cell (a 4 GB calloc)
// while listing the variables.
TEST(FuzzRegressions, MatV5CellArrayWithMoreCellsThanBytesIsRefusedBeforeMatioAllocates) {
  TempDir dir;
  const std::string path = dir.file("oom_cells.mat");
  fovea_test::write_raw(path, fovea_test::from_hex(
      "4d41544c414220352e30204d41542d66696c652c20506c6074666f726d3a207838365f36342d70632d6c696e75782d676e75"
      "2c20327265617465000000000000084000000000000010400000000000001440000000006e204465632020372031393a3138"
      "3a313820323032360a0020202020202020202020202020200001494d0e000000600000000600000008000000060000000000"
      "0000050000000800000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
      "100000000000000000000000000010400000000000001440000000000000ac400e0000004000000006000000080000000100"
      "006300000000050000000c0000000200000002000000020000080000000101000300696d6700020000000800000000010203"
      "040527070e0000003800000006000000080000000b0000000000000005000000080000000100000003000000010100037500"
      "0000040000000600000001000200ffff00000e00380000000000060000000800000009220000000000000500000008000000"
      "0200000001000000010001006200000002000000020000000100000000000000000000000000000000000000000000000000"
      "0000000000000000000000"));
  ASSERT_EQ(std::filesystem::file_size(path), 461u);
  const std::string message = fovea::test::error_of([&] { fovea::io::mat_variable_names(path); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("a cell array of 536870920 elements in an array of 64 bytes"), std::string::npos)
      << message;
}

// fuzz_mat's crash-3ff1d602... and oom-8496e3c3... (fuzz_seeds' v73.mat, 3424
// bytes, mutated). matio reads v7.3 files with libhdf5's own driver: a
// contiguous dataset `img` that stores 0 of its 8 bytes made libhdf5 copy from
// address 0 (H5D__contig_read -> H5D__select_read -> H5VM_memcpyvv), and an
// element size of 4294836232 bytes for `x`, a 4 GB conversion buffer
// (H5D__read). The variable is now checked through fovea's HDF5 reader first.
const SparseFile kMat73ShortContiguous = {3424, {
    {0, "4d41544c414220372e33204d41542d66696c652c20506c6174666f726d3a207838365f36342d70632d6c696e75782d67"
          "6e752c20437265617465642062793a206c69626d6174696f2076312e352e3233206f6e204d6f6e204465632020372031"
          "393a31383a313820323032360a2048444635200020202020202020200002494d"},
    {512, "894844460d0a1a0a000000000008080004001000000000000002000000000000ffffffffffffffff600d000000000000"
          "ffffffffffffffff"},
    {576, "600000000000000001000000000000008800000000000000a80200000000000001000100010000001800000000000000"
          "11001000000000008800000000000000a8020000000000005452454500000100ffffffffffffffffffffffffffffffff"},
    {680, "300400000000000008"},
    {1192, "484541500000000058000000000000002800000000000000c802"},
    {1232, "7800000000000000696d67000000000075000000000000006200000000000000010000000000000030"},
    {1312, "010007000100000000010000000000000100280000000000010201000000000003000000000000000200000000000000"
          "03000000000000000200000000000000030018000100000011203f000800000000004000340b0034ff03000000000000"
          "0500080001000000020202010000000008001800000000000301200b00000000000030"},
    {1456, "1200080000000000010000007a06176b0c0030000000000001000d00080008004d41544c41425f636c61737300000000"
          "13000000060000000100000000000000646f75626c650000000030"},
    {1584, "534e4f440100040020000000000000009807"},
    {1632, "10000000000000007805"},
    {1672, "18000000000000008806"},
    {1712, "08000000000000002003"},
    {1912, "010007000100000000010000000000000100380000000000010301000000000002000000000000000200000000000000"
          "020000000000000002000000000000000200000000000000020000000000000003001000010000001000000001000000"
          "0000080000000000050008000100000002020201000000000800180000000000030000000b500100000008"},
    {2064, "1200080000000000010000007a06176b0c0030000000000001000d00080008004d41544c41425f636c61737300000000"
          "1300000005000000010000000000000075696e7438000000000028"},
    {2184, "010007000100000000010000000000000100280000000000010201000000000003000000000000000100000000000000"
          "030000000000000001000000000000000300100001000000100000000200000000001000000000000500080001000000"
          "020202010000000008001800000000000301580b00000000000006"},
    {2320, "1200080000000000010000007a06176b0c0030000000000001000d00080008004d41544c41425f636c61737300000000"
          "1300000006000000010000000000000075696e7431360000000038"},
    {2456, "010007000100000008010000000000000100280000000000010201000000000001000000000000000200000000000000"
          "010000000000000002000000000000000300100001000000100000000100000000000800000000000500080201000000"
          "0202020100000000080018000000000003015e0b00000000000002"},
    {2592, "1200080700000000010000007a06176b0c0030000000000001000d00080008004d41544c41425f636c61737300000000"
          "130000000700000001000000000000006c6f676963616c000c00400000000000010012000c0008004d41544c41425f69"
          "6e745f6465636f64650000000000000010080000040000000000200000000000010000000000000001"},
    {3366, "f03f00000000000000400000000000000840000000000000104000000000000014400000000000001840000102030405"
          "060701000200ffff01"},
}};
const SparseFile kMat73HugeElement = {3424, {
    {0, "4d41544c414220372e33204d41542d66696c652c20506c6174666f726d3a207838365f36342d70632d6c696e75782d67"
          "6e752c20437265617465642062793a206c69626d6174696f2076312e352e3233206f6e204d6f6e204465632020372031"
          "393a31383a313820323032360a2048444635200020202020202020200002494d"},
    {512, "894844460d0a1a0a000000000008080004001000000000000002000000000000ffffffffffffffff600d000000000000"
          "ffffffffffffffff"},
    {576, "600000000000000001000000000000008800000000000000a80200000000000001000100010000001800000000000000"
          "11001000000000008800000000000000a8020000000000005452454500000100ffffffffffffffffffffffffffffffff"},
    {680, "300400000000000008"},
    {771, "ff"},
    {1192, "484541500000000058000000000000002800000000000000c802"},
    {1232, "7800000000000000696d67000000000075000000000000006200000000000000010000000000000030"},
    {1312, "010007000100000000010000000000000100280000000000010201000000000003000000000000000200000000000000"
          "03000000000000000200000000000000030018000100000011203f000800feffffff4000340b0034ff03000000000000"
          "0500080001000000020202010000000008001800000000000301200b00000000000030"},
    {1456, "1200080000000000010000007a06176b0c0030000000000001000d00080008004d41544c41425f636c61737300000000"
          "13000000060000000100000000000000646f75626c650000000030"},
    {1584, "534e4f440100040020000000000000009807"},
    {1632, "10000000000000007805"},
    {1672, "18000000000000008806"},
    {1712, "08000000000000002003"},
    {1912, "010007000100000000010000000000000100380000000000010301000000000002000000000000000200000000000000"
          "020000000000000002000000000000000200000000000000020000000000000003001000010000001000000001000000"
          "00000800000000000500080001000000020202010000000008001800000000000301500b00000000000008"},
    {2064, "1200080000000000010000007a06176b0c0030000000000001000d00080008004d41544c41425f636c61737300000000"
          "1300000005000000010000000000000075696e7438000000000028"},
    {2184, "010007000100000000010000000000000100280000000000010201000000000003000000000000000100000000000000"
          "030000000000000001000000000000000300100001000000100000000200000000001000000000000500080001000000"
          "020202010000000008001800000000000301580b00000000000006"},
    {2320, "1200080000000000010000007a06176b0c0030000000000001000d00080008004d41544c41425f636c61737300000000"
          "130000000600000001000000000000007374727563740000000038"},
    {2456, "010007000100000008010000000000000100280000000000010201000000000001000000000000000200000000000000"
          "010000000000000002000000000000000300100001000000100000000100000000000800000000000500080001000000"
          "0202020100000000080018000000000003015e0b00000000000002"},
    {2592, "1200080700000000010000007a06176b0c0030000000000001000d00080008004d41544c41425f636c61737300000000"
          "130000000700000001000000000000006c6f676963616c000c00400000000000010012000c0008004d41544c41425f69"
          "6e745f6465636f64650000000000000010080000040000000000200000000000010000000000000001"},
    {3366, "f03f00000000000000400000000000000840000000000000104000000000000014400000000000001840000102030405"
          "060701000200ffff01"},
}};
TEST(FuzzRegressions, MatV73VariableIsCheckedBeforeMatioReadsIt) {
  TempDir dir;
  const std::string short_data = dir.file("short.mat"), huge_element = dir.file("element.mat");
  fovea_test::write_raw(short_data, kMat73ShortContiguous.bytes());
  fovea_test::write_raw(huge_element, kMat73HugeElement.bytes());
  std::string message = fovea::test::error_of([&] { fovea::io::read_mat_variable(short_data, "img"); });
  EXPECT_NE(message.find(short_data), std::string::npos) << message;
  EXPECT_NE(message.find("dataset '/img' stores 0 bytes, its shape and type need 8 (corrupt file)"),
            std::string::npos) << message;
  message = fovea::test::error_of([&] { fovea::io::read_mat_variable(huge_element, "x"); });
  EXPECT_NE(message.find(huge_element), std::string::npos) << message;
  EXPECT_NE(message.find("dataset '/x' has numbers of 4294836232 bytes (corrupt file)"), std::string::npos)
      << message;
  // A valid v7.3 file (matio's writer) still reads.
  const std::string good = dir.file("good73.mat");
  mat_t* mat = Mat_CreateVer(good.c_str(), nullptr, MAT_FT_MAT73);
  ASSERT_NE(mat, nullptr);
  double x[6] = {1, 2, 3, 4, 5, 6};
  size_t dims[2] = {2, 3};
  matvar_t* v = Mat_VarCreate("x", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, dims, x, 0);
  Mat_VarWrite(mat, v, MAT_COMPRESSION_NONE);
  Mat_VarFree(v);
  Mat_Close(mat);
  EXPECT_TRUE(at::equal(fovea::io::read_mat_variable(good, "x"),
                        at::tensor({1.0, 3.0, 5.0, 2.0, 4.0, 6.0}, at::kDouble).reshape({2, 3})));
}
