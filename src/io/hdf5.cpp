// HDF5 reading and writing with the C++ API. Every HDF5 exception becomes a
// fovea::Error naming the file and the dataset.
#include "fovea/io/hdf5.h"

#include <H5Cpp.h>
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>

#include "fovea/error.h"

namespace fovea::io {

namespace {

H5::H5File open_file(const std::string& file) {
  if (!std::filesystem::exists(file)) fail(file, "file does not exist");
  try {
    H5::Exception::dontPrint();
    return H5::H5File(file, H5F_ACC_RDONLY);
  } catch (const H5::Exception&) {
    fail(file, "not an HDF5 file or cannot be opened");
  }
}

}  // namespace

bool h5_has(const std::string& file, const std::string& path_in_file) {
  H5::H5File f = open_file(file);
  try {
    // Walk the path so that a missing intermediate group is "absent", not an error.
    std::string sofar;
    size_t start = 0;
    while (start <= path_in_file.size()) {
      const auto slash = path_in_file.find('/', start);
      sofar += (sofar.empty() ? "" : "/") + path_in_file.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
      if (!f.nameExists(sofar)) return false;
      if (slash == std::string::npos) break;
      start = slash + 1;
    }
    return true;
  } catch (const H5::Exception&) {
    return false;
  }
}

std::vector<std::string> h5_members(const std::string& file, const std::string& group) {
  H5::H5File f = open_file(file);
  std::vector<std::string> names;
  try {
    H5::Group g = f.openGroup(group);
    for (hsize_t i = 0; i < g.getNumObjs(); ++i) names.push_back(g.getObjnameByIdx(i));
  } catch (const H5::Exception& e) {
    fail(file, "cannot list group '" + group + "': " + e.getDetailMsg());
  }
  std::sort(names.begin(), names.end());
  return names;
}

at::Tensor read_h5_dataset(const std::string& file, const std::string& path_in_file) {
  H5::H5File f = open_file(file);
  if (!h5_has(file, path_in_file)) fail(file, "dataset '" + path_in_file + "' is missing");
  try {
    H5::DataSet ds = f.openDataSet(path_in_file);
    H5::DataSpace space = ds.getSpace();
    const int rank = space.getSimpleExtentNdims();
    std::vector<hsize_t> dims(static_cast<size_t>(rank));
    space.getSimpleExtentDims(dims.data());
    std::vector<int64_t> shape(dims.begin(), dims.end());
    const H5T_class_t cls = ds.getTypeClass();
    at::Tensor out;
    if (cls == H5T_FLOAT) {
      const bool dbl = ds.getFloatType().getSize() > 4;
      out = torch::empty(shape, dbl ? torch::kFloat64 : torch::kFloat32);
      ds.read(out.data_ptr(), dbl ? H5::PredType::NATIVE_DOUBLE : H5::PredType::NATIVE_FLOAT);
    } else if (cls == H5T_INTEGER) {
      out = torch::empty(shape, torch::kInt64);
      ds.read(out.data_ptr(), H5::PredType::NATIVE_INT64);
    } else {
      fail(file, "dataset '" + path_in_file + "' is not numeric");
    }
    return out;
  } catch (const H5::Exception& e) {
    fail(file, "cannot read dataset '" + path_in_file + "': " + e.getDetailMsg());
  }
}

void write_h5(const std::string& file, const std::vector<std::pair<std::string, at::Tensor>>& datasets) {
  const std::string tmp = file + ".tmp";
  try {
    H5::Exception::dontPrint();
    H5::H5File f(tmp, H5F_ACC_TRUNC);
    for (const auto& [name, value] : datasets) {
      // Create the groups on the way.
      size_t pos = 0;
      while ((pos = name.find('/', pos + 1)) != std::string::npos) {
        const std::string group = name.substr(0, pos);
        if (!f.nameExists(group)) f.createGroup(group);
      }
      at::Tensor t = value.contiguous();
      std::vector<hsize_t> dims(t.sizes().begin(), t.sizes().end());
      H5::DataSpace space(static_cast<int>(dims.size()), dims.data());
      if (t.scalar_type() == torch::kFloat64) {
        f.createDataSet(name, H5::PredType::IEEE_F64LE, space).write(t.data_ptr(), H5::PredType::NATIVE_DOUBLE);
      } else if (t.is_floating_point()) {
        t = t.to(torch::kFloat32);
        f.createDataSet(name, H5::PredType::IEEE_F32LE, space).write(t.data_ptr(), H5::PredType::NATIVE_FLOAT);
      } else {
        t = t.to(torch::kInt64);
        f.createDataSet(name, H5::PredType::STD_I64LE, space).write(t.data_ptr(), H5::PredType::NATIVE_INT64);
      }
    }
    f.close();
  } catch (const H5::Exception& e) {
    std::filesystem::remove(tmp);
    fail(file, "cannot write: " + e.getDetailMsg());
  }
  std::filesystem::rename(tmp, file);
}

}  // namespace fovea::io
