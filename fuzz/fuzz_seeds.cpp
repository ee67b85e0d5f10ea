// Writes the seed corpora: small valid files of every format the harnesses
// read, one folder per harness: `fuzz_seeds <folder>` makes <folder>/npy,
// <folder>/npz, ... The files come from fovea's own writers, matio, and the
// test suite's pickle writers and CPython-made pickles, so no Python is needed.
#include <ATen/ATen.h>
#include <matio.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "fovea/io/atomic_file.h"
#include "fovea/io/hdf5.h"
#include "fovea/io/npy.h"
#include "fovea/io/safetensors.h"
#include "fovea/io/torch_save.h"
#include "hoefling_fuzz_files.h"
#include "legacy_torch_writer.h"
#include "pickle_fixtures.h"
#include "v1_fuzz_files.h"

namespace {

namespace fs = std::filesystem;
std::string g_root;

std::string seed(const std::string& harness, const std::string& name) {
  fs::create_directories(g_root + "/" + harness);
  return g_root + "/" + harness + "/" + name;
}

void put(const std::string& harness, const std::string& name, const std::string& bytes) {
  fovea::io::write_file_atomic(seed(harness, name), bytes);
}

std::string from_hex(const char* hex) {
  std::string out;
  for (const char* p = hex; p[0] && p[1]; p += 2) out.push_back(static_cast<char>(std::stoi(std::string(p, 2), nullptr, 16)));
  return out;
}

// A hand-made .npy: header dict text + data, version 1.0.
std::string npy(const std::string& header, const std::string& data) {
  std::string h = header;
  while ((10 + h.size() + 1) % 16 != 0) h += ' ';
  h += '\n';
  std::string out("\x93NUMPY\x01\x00", 8);
  out.push_back(static_cast<char>(h.size() & 0xFF));
  out.push_back(static_cast<char>(h.size() >> 8));
  return out + h + data;
}

void npy_seeds() {
  const auto f = at::arange(6, at::kFloat).reshape({2, 3});
  put("npy", "f32_2x3.npy", fovea::io::serialize_npy(f));
  put("npy", "i64.npy", fovea::io::serialize_npy(at::arange(3, at::kLong)));
  put("npy", "bool.npy", fovea::io::serialize_npy(at::tensor({1, 0, 1}).to(at::kBool)));
  put("npy", "u8_3d.npy", fovea::io::serialize_npy(at::ones({2, 1, 2}, at::kByte)));
  put("npy", "f64_scalar.npy", fovea::io::serialize_npy(at::scalar_tensor(2.5, at::kDouble)));
  put("npy", "empty.npy", fovea::io::serialize_npy(at::zeros({0, 3}, at::kHalf)));
  put("npy", "fortran_be.npy",
      npy("{'descr': '>f8', 'fortran_order': True, 'shape': (2, 2), }", std::string(32, '\x01')));
  put("npy", "u16.npy", npy("{'descr': '<u2', 'fortran_order': False, 'shape': (3,), }", std::string(6, '\xff')));
  put("npy", "u32.npy", npy("{'descr': '<u4', 'fortran_order': False, 'shape': (1,), }", std::string(4, '\x07')));
}

void npz_seeds() {
  const fovea::io::NpzArrays arrays = {{"sp", at::arange(6, at::kFloat).reshape({2, 3})},
                                      {"istim", at::arange(4, at::kLong)}};
  fovea::io::write_npz(seed("npz", "plain.npz"), arrays, false);
  fovea::io::write_npz(seed("npz", "deflated.npz"), arrays, true);
  fovea::io::write_npz(seed("npz", "empty.npz"), {}, false);
}

void pickle_seeds() {
  const char* const fixtures[] = {fovea_test::kGenericProtocol0, fovea_test::kGenericProtocol1,
                                  fovea_test::kGenericProtocol2, fovea_test::kGenericProtocol3,
                                  fovea_test::kGenericProtocol4, fovea_test::kGenericProtocol5,
                                  fovea_test::kNumpyProtocol2,   fovea_test::kNumpyProtocol4,
                                  fovea_test::kNumpyProtocol5};
  int i = 0;
  for (const char* hex : fixtures) put("pickle", "cpython_" + std::to_string(i++) + ".pkl", from_hex(hex));
  std::vector<std::string> storages;
  const auto root = fovea::io::py_ordered_dict(
      {{"w", fovea::io::py_tensor(at::arange(6, at::kFloat).reshape({2, 3}))},
       {"meta", fovea::io::py_dict({{"n", fovea::io::py_int(3)}, {"name", fovea::io::py_str("core")}})}});
  put("pickle", "torch_state.pkl", fovea::io::pickle_for_torch(root, storages));
}

fovea::io::PyRef state_dict() {
  return fovea::io::py_ordered_dict({{"core.weight", fovea::io::py_tensor(at::arange(6, at::kFloat).reshape({2, 3}))},
                                     {"readout.bias", fovea::io::py_tensor(at::arange(2, at::kDouble))},
                                     {"mask", fovea::io::py_tensor(at::tensor({1, 0}).to(at::kBool))}});
}

void torch_seeds() {
  fovea::io::write_torch_archive(seed("torch_zip", "state_dict.pt"), state_dict());
  fovea::io::write_torch_archive(
      seed("torch_zip", "checkpoint.ckpt"),
      fovea::io::py_dict({{"state_dict", state_dict()}, {"epoch", fovea::io::py_int(3)}}), "ckpt");

  // Legacy container: an OrderedDict of two tensors, one a view of a storage.
  fovea_test::PickleWriter w;
  w.proto(2).global("collections", "OrderedDict").empty_tuple().reduce().mark();
  w.str("a");
  fovea_test::legacy_tensor(w, "FloatStorage", "0", 4, 0, {2, 2}, {2, 1});
  w.str("b");
  fovea_test::legacy_tensor(w, "LongStorage", "1", 3, 1, {2}, {1});
  w.setitems().stop();
  const std::string floats(16, '\0'), longs(24, '\x01');
  put("torch_legacy", "state_dict.pt",
      fovea_test::legacy_file(w.bytes(), {{"0", 4, floats}, {"1", 3, longs}}));
}

void safetensors_seeds() {
  fovea::io::write_safetensors(seed("safetensors", "model.safetensors"),
                               {{"core.weight", at::arange(6, at::kFloat).reshape({2, 3})},
                                {"steps", at::arange(2, at::kLong)},
                                {"empty", at::zeros({0}, at::kHalf)}},
                               {{"spec", "{\"core\": {\"type\": \"x\"}}"}});
  fovea::io::write_safetensors(seed("safetensors", "bool.safetensors"), {{"m", at::tensor({1, 0}).to(at::kBool)}}, {});
}

void mat_write(const std::string& path, mat_ft version, matio_compression compression) {
  mat_t* mat = Mat_CreateVer(path.c_str(), nullptr, version);
  if (!mat) throw std::runtime_error("cannot create " + path);
  double x[6] = {1, 2, 3, 4, 5, 6};
  size_t dims[2] = {2, 3};
  matvar_t* v = Mat_VarCreate("x", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, dims, x, 0);
  Mat_VarWrite(mat, v, compression);
  Mat_VarFree(v);
  uint8_t img[8] = {0, 1, 2, 3, 4, 5, 6, 7};
  size_t dims3[3] = {2, 2, 2};
  v = Mat_VarCreate("img", MAT_C_UINT8, MAT_T_UINT8, 3, dims3, img, 0);
  Mat_VarWrite(mat, v, compression);
  Mat_VarFree(v);
  if (version != MAT_FT_MAT4) {
    uint16_t u[3] = {1, 2, 65535};
    size_t dims1[2] = {1, 3};
    v = Mat_VarCreate("u", MAT_C_UINT16, MAT_T_UINT16, 2, dims1, u, 0);
    Mat_VarWrite(mat, v, compression);
    Mat_VarFree(v);
    uint8_t b[2] = {1, 0};
    size_t dimsb[2] = {2, 1};
    v = Mat_VarCreate("b", MAT_C_UINT8, MAT_T_UINT8, 2, dimsb, b, MAT_F_LOGICAL);
    Mat_VarWrite(mat, v, compression);
    Mat_VarFree(v);
  }
  Mat_Close(mat);
}

void mat_seeds() {
  mat_write(seed("mat", "v5.mat"), MAT_FT_MAT5, MAT_COMPRESSION_NONE);
  mat_write(seed("mat", "v7.mat"), MAT_FT_MAT5, MAT_COMPRESSION_ZLIB);
  mat_write(seed("mat", "v4.mat"), MAT_FT_MAT4, MAT_COMPRESSION_NONE);
  mat_write(seed("mat", "v73.mat"), MAT_FT_MAT73, MAT_COMPRESSION_NONE);
}

void hdf5_seeds() {
  // openretina's layouts: datasets at the root and in nested groups.
  fovea::io::write_h5(seed("hdf5", "layout.h5"),
                      {{"responses_train", at::arange(6, at::kFloat).reshape({2, 3})},
                       {"session_info/roi_ids", at::arange(3, at::kLong)},
                       {"train/response/firing_rate_10ms", at::ones({2, 2}, at::kDouble)}});
  fovea::io::write_h5(seed("hdf5", "scalar.h5"), {{"x", at::scalar_tensor(1.5, at::kDouble)}});
}

// A session of openretina's generic layout, next to fuzz_retina_layout's
// shared stimuli train (1, 4, 2, 2) and test (1, 3, 2, 2).
void retina_layout_seeds() {
  fovea::io::write_h5(seed("retina_layout", "session.h5"),
                      {{"responses_train", at::rand({2, 4})},
                       {"responses_test", at::rand({2, 3})},
                       {"test_by_trial/test", at::rand({2, 2, 3})},
                       {"stimulus_extra", at::rand({1, 2, 2, 2})},
                       {"responses_extra", at::rand({2, 2})},
                       {"session_info/roi_ids", at::arange(2, at::kLong)}});
  fovea::io::write_h5(seed("retina_layout", "trials_3d.h5"),
                      {{"responses_train", at::rand({1, 4})}, {"responses_test", at::rand({2, 1, 3})}});
}

// The Höfling 2024 layout: fuzz_hoefling's own fixed files, a wider movie,
// and a movie pickle too short to be read (small inputs mutate faster).
void hoefling_seeds() {
  fovea::fuzz::write_hoefling_movies(seed("hoefling", "movies.pkl"));
  fovea::fuzz::write_hoefling_responses(seed("hoefling", "responses.h5"));
  put("hoefling", "movies_w2.pkl", fovea::fuzz::hoefling_movies_bytes(2));
  fovea::test::NumpyPickle small;
  small.add_array("train", at::zeros({1, 3, 1, 1}), "f4");
  small.add_array("random_sequences", at::arange(4, at::kByte).reshape({2, 2}), "u1");
  put("hoefling", "short_movies.pkl", small.bytes());
}

// minimodel's mouse V1 layout: fuzz_v1's fixed files and variants.
void v1_seeds() {
  fovea::fuzz::write_v1_images_mat(seed("v1", "img_u8.mat"));
  fovea::fuzz::write_v1_images_mat(seed("v1", "img_single_v7.mat"), true, MAT_COMPRESSION_ZLIB);
  fovea::fuzz::write_v1_responses(seed("v1", "responses.npz"));
  fovea::fuzz::write_v1_responses(seed("v1", "responses_deflated.npz"), true);
}

void yaml_seeds(const std::string& source_dir) {
  for (const char* name : {"retina_demo.yaml", "v1_demo.yaml", "retina_hoefling_2024_low_res.yaml"}) {
    std::ifstream in(source_dir + "/configs/" + name);
    if (in) put("yaml", name, std::string(std::istreambuf_iterator<char>(in), {}));
  }
  put("yaml", "python_tuple.yaml",
      "model:\n  core:\n    hidden_channels: !!python/tuple\n    - 16\n    - 16\n  name: 'quoted'\n"
      "anchors:\n  a: &base {x: 1, y: [1.5, ~, true]}\n  b: *base\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_seeds <folder>\n");
    return 2;
  }
  g_root = argv[1];
  npy_seeds();
  npz_seeds();
  pickle_seeds();
  torch_seeds();
  safetensors_seeds();
  mat_seeds();
  hdf5_seeds();
  retina_layout_seeds();
  hoefling_seeds();
  v1_seeds();
  yaml_seeds(FOVEA_SOURCE_DIR);
  std::printf("seeds written under %s\n", g_root.c_str());
  return 0;
}
