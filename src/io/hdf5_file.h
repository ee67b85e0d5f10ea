#pragma once
// Opening an HDF5 file for reading the way fovea::io does (src/io/hdf5.cpp):
// through fovea's range-checked, read-only file driver. For readers that need
// more of a file than its datasets (the Höfling 2024 attributes).
#include <H5Cpp.h>

#include <string>

namespace fovea::io::detail {

// fovea::Error naming `file` when it is missing or not an HDF5 file.
H5::H5File open_h5_for_reading(const std::string& file);

// For matio's v7.3 (HDF5) .mat files, before matio reads a variable with
// libhdf5's default driver: when `path_in_file` is a dataset, the checks
// read_h5_dataset makes before reading (element size, stored bytes against
// the shape and the file's size), made through fovea's checked driver.
// fovea::Error naming `file` when one fails; nothing when it is no dataset.
void check_h5_dataset_storage(const std::string& file, const std::string& path_in_file);

}  // namespace fovea::io::detail
