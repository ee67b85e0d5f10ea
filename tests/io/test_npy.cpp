#include <ATen/ATen.h>

#include <cstring>
#include <random>

#include "fovea/io/atomic_file.h"
#include "fovea/io/npy.h"
#include "io_test_util.h"

using namespace fovea::io;
using fovea_test::expect_error;
using fovea_test::ScratchDir;

namespace {

// An .npy file built byte by byte: preamble + header dict + data.
std::string npy_bytes(const std::string& dict, const std::string& data, int major = 1) {
  std::string header = dict;
  const size_t len_bytes = major == 1 ? 2 : 4;
  while ((6 + 2 + len_bytes + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out("\x93NUMPY", 6);
  out.push_back(static_cast<char>(major));
  out.push_back('\0');
  for (size_t i = 0; i < len_bytes; ++i) out.push_back(static_cast<char>((header.size() >> (8 * i)) & 0xFF));
  return out + header + data;
}

template <typename T>
std::string raw(std::initializer_list<T> values, bool big_endian = false) {
  std::string out;
  for (T v : values) {
    char b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));
    if (big_endian) std::reverse(b, b + sizeof(T));
    out.append(b, sizeof(T));
  }
  return out;
}

at::Tensor sample(at::ScalarType dtype, at::IntArrayRef shape) {
  int64_t n = 1;
  for (auto s : shape) n *= s;
  at::Tensor t = at::arange(n, at::kDouble).mul(1.5).sub(7).reshape(shape);
  if (dtype == at::kBool) return t.gt(0);
  if (dtype == at::kByte) return t.abs().to(dtype);
  return t.to(dtype);
}

}  // namespace

TEST(Npy, RoundTripEveryDtypeAndShape) {
  ScratchDir dir;
  const std::vector<at::ScalarType> dtypes = {at::kFloat, at::kDouble, at::kLong, at::kInt, at::kShort,
                                              at::kChar,  at::kByte,   at::kBool, at::kHalf};
  const std::vector<std::vector<int64_t>> shapes = {{}, {5}, {2, 3, 4}, {0, 3}};
  for (auto dtype : dtypes) {
    for (const auto& shape : shapes) {
      const at::Tensor t = sample(dtype, shape);
      const std::string path = dir.file("a.npy");
      write_npy(path, t);
      const at::Tensor back = read_npy(path);
      SCOPED_TRACE(std::string(c10::toString(dtype)) + " " + c10::str(at::IntArrayRef(shape)));
      EXPECT_EQ(back.scalar_type(), dtype);
      EXPECT_EQ(back.sizes(), t.sizes());
      EXPECT_TRUE(back.is_contiguous());
      EXPECT_TRUE(at::equal(back, t));
    }
  }
}

TEST(Npy, NonContiguousTensorIsWrittenInLogicalOrder) {
  const at::Tensor t = at::arange(12, at::kFloat).reshape({3, 4}).t();
  const at::Tensor back = parse_npy(serialize_npy(t), "t.npy");
  EXPECT_EQ(back.sizes(), (std::vector<int64_t>{4, 3}));
  EXPECT_TRUE(at::equal(back, t));
}

TEST(Npy, HeaderMatchesNumpy) {
  // np.save of a (3, 4) float32 array: version 1.0, header length 118 (0x76),
  // data at byte 128, the dict padded with spaces and a newline.
  const std::string bytes = serialize_npy(at::zeros({3, 4}, at::kFloat));
  ASSERT_EQ(bytes.size(), 128u + 48u);
  EXPECT_EQ(bytes.substr(0, 10), std::string("\x93NUMPY\x01\x00\x76\x00", 10));
  const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }";
  EXPECT_EQ(bytes.substr(10, dict.size()), dict);
  EXPECT_EQ(bytes[127], '\n');
  EXPECT_EQ(bytes.substr(10 + dict.size(), 127 - 10 - dict.size()), std::string(127 - 10 - dict.size(), ' '));

  // 0-d and 1-d shapes are written as Python tuples.
  EXPECT_NE(serialize_npy(at::scalar_tensor(1.0, at::kDouble)).find("'shape': (), }"), std::string::npos);
  EXPECT_NE(serialize_npy(at::zeros({5}, at::kByte)).find("'descr': '|u1', 'fortran_order': False, 'shape': (5,), }"),
            std::string::npos);
}

TEST(Npy, LongHeaderUsesVersion2) {
  std::vector<int64_t> shape(25000, 1);  // a header of 75 kB
  const std::string bytes = serialize_npy(at::zeros(shape, at::kFloat));
  EXPECT_EQ(bytes[6], '\x02');
  const at::Tensor back = parse_npy(bytes, "long.npy");
  EXPECT_EQ(back.dim(), 25000);
}

TEST(Npy, FortranOrderIsReturnedInCOrder) {
  // a = [[0, 1, 2], [3, 4, 5]] stored column by column.
  const std::string bytes =
      npy_bytes("{'descr': '<i4', 'fortran_order': True, 'shape': (2, 3), }", raw<int32_t>({0, 3, 1, 4, 2, 5}));
  const at::Tensor t = parse_npy(bytes, "f.npy");
  EXPECT_EQ(t.scalar_type(), at::kInt);
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_TRUE(at::equal(t, at::arange(6, at::kInt).reshape({2, 3})));

  // 3-D: element (i, j, k) sits at i + 2j + 6k.
  std::string data;
  for (int k = 0; k < 4; ++k)
    for (int j = 0; j < 3; ++j)
      for (int i = 0; i < 2; ++i) data += raw<double>({100.0 * i + 10.0 * j + k});
  const at::Tensor v = parse_npy(npy_bytes("{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3, 4), }", data), "v.npy");
  ASSERT_EQ(v.sizes(), (std::vector<int64_t>{2, 3, 4}));
  EXPECT_TRUE(v.is_contiguous());
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) EXPECT_EQ(v[i][j][k].item<double>(), 100.0 * i + 10.0 * j + k);
}

TEST(Npy, BigEndianIsByteSwapped) {
  const at::Tensor f = parse_npy(
      npy_bytes("{'descr': '>f8', 'fortran_order': False, 'shape': (3,), }", raw<double>({1.5, -2.25, 1e10}, true)),
      "be.npy");
  EXPECT_EQ(f.scalar_type(), at::kDouble);
  EXPECT_TRUE(at::equal(f, at::tensor({1.5, -2.25, 1e10}, at::kDouble)));

  const at::Tensor i = parse_npy(
      npy_bytes("{'descr': '>i2', 'fortran_order': False, 'shape': (2, 2), }", raw<int16_t>({1, -2, 300, -32768}, true)),
      "be16.npy");
  EXPECT_EQ(i.scalar_type(), at::kShort);
  EXPECT_TRUE(at::equal(i, at::tensor({1, -2, 300, -32768}, at::kShort).reshape({2, 2})));

  // '|' (not applicable) and unsigned 16-bit, widened to int32.
  const at::Tensor u8 = parse_npy(npy_bytes("{'descr': '|u1', 'fortran_order': False, 'shape': (2,), }", "\x01\xff"), "u8.npy");
  EXPECT_TRUE(at::equal(u8, at::tensor({1, 255}, at::kByte)));
  const at::Tensor u16 = parse_npy(
      npy_bytes("{'descr': '>u2', 'fortran_order': False, 'shape': (2,), }", raw<uint16_t>({7, 65535}, true)), "u16.npy");
  EXPECT_EQ(u16.scalar_type(), at::kInt);
  EXPECT_TRUE(at::equal(u16, at::tensor({7, 65535}, at::kInt)));
}

TEST(Npy, HeaderVersions2And3) {
  for (int major : {2, 3}) {
    const at::Tensor t = parse_npy(
        npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", raw<float>({0.5f, 4.0f}), major), "v.npy");
    EXPECT_TRUE(at::equal(t, at::tensor({0.5f, 4.0f}))) << "version " << major;
  }
}

TEST(Npy, ZeroDimensionalArray) {
  const at::Tensor t =
      parse_npy(npy_bytes("{'descr': '<i8', 'fortran_order': False, 'shape': (), }", raw<int64_t>({-42})), "s.npy");
  EXPECT_EQ(t.dim(), 0);
  EXPECT_EQ(t.item<int64_t>(), -42);
}

TEST(Npy, GoldenFilesRead) {
  if (!fovea_test::have_golden()) GTEST_SKIP() << "no golden dir";
  const at::Tensor s = read_npy(fovea_test::golden("openretina_mei/initial_stimulus.npy"));
  EXPECT_EQ(s.scalar_type(), at::kFloat);
  EXPECT_EQ(s.sizes(), (std::vector<int64_t>{1, 2, 50, 18, 16}));
  const at::Tensor r = read_npy(fovea_test::golden("metrics/responses_frames_repeats_neurons.npy"));
  EXPECT_EQ(r.scalar_type(), at::kDouble);
  EXPECT_EQ(r.sizes(), (std::vector<int64_t>{50, 10, 30}));
}

TEST(Npy, TruncatedFileNamesFileAndSizes) {
  ScratchDir dir;
  const std::string path = dir.file("x.npy");
  const std::string bytes = serialize_npy(at::zeros({10, 10}, at::kFloat));  // 128 + 400 bytes
  fovea_test::write_raw(path, bytes.substr(0, bytes.size() - 100));
  expect_error([&] { read_npy(path); }, {path, "truncated", "400 bytes of data", "has 300"});
  fovea_test::write_raw(path, bytes.substr(0, 50));
  expect_error([&] { read_npy(path); }, {path, "truncated"});
}

TEST(Npy, BadMagicAndUnsupportedDtype) {
  ScratchDir dir;
  const std::string path = dir.file("bad.npy");
  fovea_test::write_raw(path, "PK\x03\x04 this is not an npy file at all");
  expect_error([&] { read_npy(path); }, {path, "magic"});
  fovea_test::write_raw(path, "");
  expect_error([&] { read_npy(path); }, {path, "magic"});
  fovea_test::write_raw(path, npy_bytes("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", std::string(8, '\0')));
  expect_error([&] { read_npy(path); }, {path, "unsupported dtype '<c8'"});
  fovea_test::write_raw(path, npy_bytes("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", "abcd"));
  expect_error([&] { read_npy(path); }, {path, "structured"});
  fovea_test::write_raw(path, npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", ""));
  expect_error([&] { read_npy(path); }, {path, "shape"});
  fovea_test::write_raw(path, npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }", ""));
  expect_error([&] { read_npy(path); }, {path, "shape too large"});
  fovea_test::write_raw(path, npy_bytes("{'descr': '<f4', 'fortran_order': False, }", ""));
  expect_error([&] { read_npy(path); }, {path, "needs 'descr', 'fortran_order' and 'shape'"});
  std::string v9 = serialize_npy(at::zeros({1}));
  v9[6] = 9;
  fovea_test::write_raw(path, v9);
  expect_error([&] { read_npy(path); }, {path, "version 9.0"});
  expect_error([&] { write_npy(dir.file("c.npy"), at::zeros({2}, at::kComplexFloat)); }, {"c.npy", "complex64"});
}

TEST(Npy, CorruptedBytesNeverCrash) {
  const std::string good = serialize_npy(at::arange(24, at::kDouble).reshape({2, 3, 4}));
  std::mt19937 rng(1234);
  int errors = 0, parsed = 0;
  for (size_t len = 0; len < good.size(); ++len) {
    try {
      parse_npy(good.substr(0, len), "cut.npy");
      ++parsed;
    } catch (const fovea::Error&) {
      ++errors;
    }
  }
  for (int trial = 0; trial < 3000; ++trial) {
    std::string bad = good;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) bad[rng() % 128] = static_cast<char>(rng() % 256);
    try {
      parse_npy(bad, "flip.npy");
      ++parsed;
    } catch (const fovea::Error&) {
      ++errors;
    }
  }
  EXPECT_GE(errors, static_cast<int>(good.size()) - 1);  // every cut before the data's end is refused
}

TEST(Npz, RoundTripStoredAndCompressed) {
  ScratchDir dir;
  const NpzArrays arrays = {
      {"sp", at::arange(12, at::kFloat).reshape({3, 4})},
      {"ids", at::tensor({3, 1, 2}, at::kLong)},
      {"mask", fovea_test::bools({1, 0})},
      {"scalar", at::scalar_tensor(2.5, at::kDouble)},
      {"big", at::zeros({20000}, at::kFloat)},
  };
  for (bool compress : {false, true}) {
    const std::string path = dir.file(compress ? "c.npz" : "s.npz");
    write_npz(path, arrays, compress);
    const NpzArrays back = read_npz(path);
    ASSERT_EQ(back.size(), arrays.size());
    for (size_t i = 0; i < arrays.size(); ++i) {
      EXPECT_EQ(back[i].first, arrays[i].first);
      EXPECT_EQ(back[i].second.scalar_type(), arrays[i].second.scalar_type());
      EXPECT_TRUE(at::equal(back[i].second, arrays[i].second)) << arrays[i].first;
    }
    EXPECT_EQ(npz_keys(path), (std::vector<std::string>{"sp", "ids", "mask", "scalar", "big"}));
    EXPECT_TRUE(at::equal(read_npz_key(path, "ids"), arrays[1].second));
  }
  // Deflate shrinks the 80 kB of zeros; stored keeps them.
  const auto stored = fovea_test::read_raw(dir.file("s.npz")).size();
  const auto deflated = fovea_test::read_raw(dir.file("c.npz")).size();
  EXPECT_GT(stored, 80000u);
  EXPECT_LT(deflated, 5000u);
}

TEST(Npz, EmptyArchive) {
  ScratchDir dir;
  write_npz(dir.file("e.npz"), {});
  EXPECT_TRUE(read_npz(dir.file("e.npz")).empty());
}

TEST(Npz, MissingKeyAndBadArchive) {
  ScratchDir dir;
  const std::string path = dir.file("m.npz");
  write_npz(path, {{"a", at::zeros({2})}, {"b", at::ones({2})}});
  expect_error([&] { read_npz_key(path, "sp"); }, {path, "key 'sp' is missing", "a, b"});
  fovea_test::write_raw(path, "not a zip");
  expect_error([&] { read_npz(path); }, {path, "not a zip"});
  expect_error([&] { read_npz(dir.file("absent.npz")); }, {"absent.npz", "cannot open"});
  expect_error([&] { write_npz(dir.file("d.npz"), {{"a", at::zeros({1})}, {"a", at::zeros({1})}}); }, {"d.npz", "twice"});
}

TEST(Npz, CorruptMemberNamesKey) {
  ScratchDir dir;
  const std::string path = dir.file("k.npz");
  write_npz(path, {{"resp", at::arange(100, at::kFloat)}});
  std::string bytes = fovea_test::read_raw(path);
  // Flip a data byte of the stored member: libzip's CRC check catches it.
  const auto pos = bytes.find("\x93NUMPY");
  ASSERT_NE(pos, std::string::npos);
  bytes[pos + 200] ^= 0x55;
  fovea_test::write_raw(path, bytes);
  expect_error([&] { read_npz(path); }, {path, "resp"});
}

TEST(Npz, ReadsNumpySavezCompressed) {
  // np.savez_compressed(f, x=np.arange(6, dtype='<f4').reshape(2, 3), y=np.array([True, False]))
  // written by NumPy 1.24 / Python's zipfile (deflated members, zip64 extras).
  const std::string bytes = fovea_test::from_hex(
      "504b0304140000000800000021004fe9002a550000009800000005001400782e6e70790100100098000000000000005500000000"
      "0000009bec17ea1b10c9c850c650ad9e925a9c5ca46ea5a06e9366a2aea3a09e965f54529498179f5f94920a12774bcc294e058a"
      "17672416a402f91a463a0ac69a3a0ab50a64032e063068b007120e4004c40d40bcc00100504b030414000000080000002100ee19"
      "bb5d460000008200000005001400792e6e707901001000820000000000000046000000000000009bec17ea1b10c9c850c650ad9e"
      "925a9c5ca46ea5a05e9364a8aea3a09e965f54529498179f5f94920a12774bcc294e058a17672416a402f91a463a9a3a0ab50a14"
      "002e460600504b01021403140000000800000021004fe9002a550000009800000005000000000000000000000080010000000078"
      "2e6e7079504b0102140314000000080000002100ee19bb5d460000008200000005000000000000000000000080018c000000792e"
      "6e7079504b0506000000000200020066000000090100000000");
  ScratchDir dir;
  const std::string path = dir.file("np.npz");
  fovea_test::write_raw(path, bytes);
  const NpzArrays a = read_npz(path);
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].first, "x");
  EXPECT_TRUE(at::equal(a[0].second, at::arange(6, at::kFloat).reshape({2, 3})));
  EXPECT_EQ(a[1].first, "y");
  EXPECT_TRUE(at::equal(a[1].second, fovea_test::bools({1, 0})));
}

TEST(Npz, CorruptedArchivesNeverCrash) {
  ScratchDir dir;
  for (bool compress : {false, true}) {
    const std::string path = dir.file("fuzz.npz");
    write_npz(path, {{"a", at::arange(200, at::kFloat)}, {"b", at::ones({3, 4}, at::kLong)}}, compress);
    const std::string good = fovea_test::read_raw(path);
    std::mt19937 rng(compress ? 11 : 12);
    int errors = 0;
    for (int trial = 0; trial < 300; ++trial) {
      std::string bad = good;
      const int flips = 1 + static_cast<int>(rng() % 6);
      for (int f = 0; f < flips; ++f) bad[rng() % bad.size()] = static_cast<char>(rng() % 256);
      fovea_test::write_raw(path, bad);
      try {
        read_npz(path);
      } catch (const fovea::Error&) {
        ++errors;
      }
    }
    EXPECT_GT(errors, 0);
  }
}
