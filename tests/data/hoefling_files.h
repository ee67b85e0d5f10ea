#pragma once
// Small files in the exact Höfling 2024 layout, for tests: the movie pickle
// (numpy arrays, as openretina's movies_from_pickle reads it) and the
// responses HDF5 (one group per field, datasets with the published dtypes,
// the eye and scan_sequence_idx attributes), written with the HDF5 C++ API.
#include <H5Cpp.h>
#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "numpy_pickle_writer.h"

namespace fovea::test {

// One recording field. Unset tensors are not written.
struct HoeflingField {
  std::string eye = "right";
  int64_t scan_sequence_idx = 0;
  bool write_eye = true, write_sequence = true;
  std::string spikes_key = "natural_inferred_spikes";
  at::Tensor spikes;             // (N, T_scan) float32
  at::Tensor times;              // (N, T_scan) float64: natural_traces_times
  at::Tensor t0, dt;             // (N,) float64: natural_traces_t0 / _dt (when times is unset)
  at::Tensor triggers;           // (N, 123) float32
  at::Tensor group_assignment;   // (N,) int32
  at::Tensor group_confidences;  // (N, 46) float32
  at::Tensor d_qi, chirp_qi;     // (N,) float64
  at::Tensor roi_ids;            // (N,) int32
  at::Tensor roi_mask;           // (64, 64) int32
};

inline void write_h5_dataset(H5::Group& g, const std::string& name, const at::Tensor& value) {
  if (!value.defined()) return;
  const at::Tensor t = value.contiguous();
  std::vector<hsize_t> dims(t.sizes().begin(), t.sizes().end());
  H5::DataSpace space(static_cast<int>(dims.size()), dims.data());
  switch (t.scalar_type()) {
    case at::kFloat:
      g.createDataSet(name, H5::PredType::IEEE_F32LE, space).write(t.data_ptr(), H5::PredType::NATIVE_FLOAT);
      break;
    case at::kDouble:
      g.createDataSet(name, H5::PredType::IEEE_F64LE, space).write(t.data_ptr(), H5::PredType::NATIVE_DOUBLE);
      break;
    case at::kInt:
      g.createDataSet(name, H5::PredType::STD_I32LE, space).write(t.data_ptr(), H5::PredType::NATIVE_INT32);
      break;
    default:
      throw std::runtime_error("write_h5_dataset: unsupported dtype");
  }
}

inline void write_hoefling_responses(const std::string& file, const std::map<std::string, HoeflingField>& fields) {
  H5::Exception::dontPrint();
  H5::H5File f(file, H5F_ACC_TRUNC);
  for (const auto& [name, x] : fields) {
    H5::Group g = f.createGroup(name);
    write_h5_dataset(g, x.spikes_key, x.spikes);
    write_h5_dataset(g, "natural_traces_times", x.times);
    write_h5_dataset(g, "natural_traces_t0", x.t0);
    write_h5_dataset(g, "natural_traces_dt", x.dt);
    write_h5_dataset(g, "natural_trigger_times", x.triggers);
    write_h5_dataset(g, "group_assignment", x.group_assignment);
    write_h5_dataset(g, "group_confidences", x.group_confidences);
    write_h5_dataset(g, "d_qi", x.d_qi);
    write_h5_dataset(g, "chirp_qi", x.chirp_qi);
    write_h5_dataset(g, "roi_ids", x.roi_ids);
    write_h5_dataset(g, "roi_mask", x.roi_mask);
    H5::DataSpace scalar(H5S_SCALAR);
    if (x.write_eye) {
      // h5py writes a Python str attribute as a variable-length UTF-8 string.
      H5::StrType str(H5::PredType::C_S1, H5T_VARIABLE);
      str.setCset(H5T_CSET_UTF8);
      g.createAttribute("eye", str, scalar).write(str, x.eye);
    }
    if (x.write_sequence) {
      const int64_t v = x.scan_sequence_idx;
      g.createAttribute("scan_sequence_idx", H5::PredType::STD_I64LE, scalar).write(H5::PredType::NATIVE_INT64, &v);
    }
    H5::StrType str(H5::PredType::C_S1, H5T_VARIABLE);
    g.createAttribute("experimenter", str, scalar).write(str, std::string("Hoefling"));
  }
  f.close();
}

}  // namespace fovea::test
