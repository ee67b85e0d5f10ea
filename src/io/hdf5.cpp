// HDF5 reading and writing with the C++ API. Every HDF5 exception becomes a
// fovea::Error naming the file and the dataset.
#include "fovea/io/hdf5.h"

#include <H5Cpp.h>
#include <H5FDpublic.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "fovea/error.h"
#include "io/hdf5_file.h"

namespace fovea::io {

namespace {

// fovea reads every HDF5 file through this file driver, not libhdf5's sec2:
// POSIX pread behind a range check, read-only, and without libhdf5's metadata
// accumulator. libhdf5 1.10.8 reads metadata wherever a corrupt file points:
// a B-tree child at the undefined address 0xffffffffffffffff passes its range
// check (address + size wraps around), and the accumulator (H5F__accum_read)
// then copies from a null buffer: a segfault while listing a group, found by
// fuzz_hdf5 and fuzz_retina_layout. Here such a read is refused, so libhdf5
// reports an error instead. Bytes past the end of the file but inside the
// space the file claims (its end-of-allocation) read as zeros, as with sec2.
struct CheckedFile {
  H5FD_t pub;  // libhdf5's part, first
  int fd = -1;
  haddr_t eof = 0, eoa = 0;
  dev_t device = 0;
  ino_t inode = 0;
};

CheckedFile* checked(H5FD_t* file) { return reinterpret_cast<CheckedFile*>(file); }
const CheckedFile* checked(const H5FD_t* file) { return reinterpret_cast<const CheckedFile*>(file); }

H5FD_t* checked_open(const char* name, unsigned flags, hid_t /*fapl*/, haddr_t /*maxaddr*/) {
  if (flags & (H5F_ACC_RDWR | H5F_ACC_TRUNC | H5F_ACC_CREAT)) return nullptr;  // reading only
  const int fd = ::open(name, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return nullptr;
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return nullptr;
  }
  auto* f = new (std::nothrow) CheckedFile();
  if (!f) {
    ::close(fd);
    return nullptr;
  }
  f->fd = fd;
  f->eof = static_cast<haddr_t>(st.st_size);
  f->device = st.st_dev;
  f->inode = st.st_ino;
  return &f->pub;
}

herr_t checked_close(H5FD_t* file) {
  CheckedFile* f = checked(file);
  ::close(f->fd);
  delete f;
  return 0;
}

// libhdf5 shares one open file among handles to the same file.
int checked_cmp(const H5FD_t* a, const H5FD_t* b) {
  const CheckedFile *x = checked(a), *y = checked(b);
  if (x->device != y->device) return x->device < y->device ? -1 : 1;
  if (x->inode != y->inode) return x->inode < y->inode ? -1 : 1;
  return 0;
}

herr_t checked_query(const H5FD_t* /*file*/, unsigned long* flags) {
  if (flags) *flags = H5FD_FEAT_DATA_SIEVE;  // raw data still goes through the sieve buffer
  return 0;
}

haddr_t checked_get_eoa(const H5FD_t* file, H5FD_mem_t /*type*/) { return checked(file)->eoa; }

herr_t checked_set_eoa(H5FD_t* file, H5FD_mem_t /*type*/, haddr_t addr) {
  checked(file)->eoa = addr;
  return 0;
}

haddr_t checked_get_eof(const H5FD_t* file, H5FD_mem_t /*type*/) { return checked(file)->eof; }

herr_t checked_read(H5FD_t* file, H5FD_mem_t /*type*/, hid_t /*dxpl*/, haddr_t addr, size_t size, void* buffer) {
  CheckedFile* f = checked(file);
  if (addr == HADDR_UNDEF || addr > f->eoa || size > f->eoa - addr) return -1;  // no wrap-around
  auto* out = static_cast<unsigned char*>(buffer);
  while (size > 0 && addr < f->eof) {
    const size_t want = static_cast<size_t>(std::min<haddr_t>({size, f->eof - addr, haddr_t{1} << 30}));
    const ssize_t got = ::pread(f->fd, out, want, static_cast<off_t>(addr));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return -1;
    if (got == 0) break;  // the file shrank: the rest reads as zeros
    out += got;
    addr += static_cast<haddr_t>(got);
    size -= static_cast<size_t>(got);
  }
  std::memset(out, 0, size);
  return 0;
}

herr_t checked_write(H5FD_t*, H5FD_mem_t, hid_t, haddr_t, size_t, const void*) { return -1; }
herr_t checked_no_op(H5FD_t*, hid_t, hbool_t) { return 0; }
herr_t checked_lock(H5FD_t*, hbool_t) { return 0; }
herr_t checked_unlock(H5FD_t*) { return 0; }

const H5FD_class_t kCheckedDriver = {
    "fovea_checked", static_cast<haddr_t>(INT64_MAX), H5F_CLOSE_WEAK,
    nullptr,                                    // terminate
    nullptr, nullptr, nullptr,                  // superblock driver info: none
    0, nullptr, nullptr, nullptr,               // no access properties
    0, nullptr, nullptr,                        // no transfer properties
    checked_open, checked_close, checked_cmp, checked_query,
    nullptr,                                    // get_type_map
    nullptr, nullptr,                           // alloc, free: read-only
    checked_get_eoa, checked_set_eoa, checked_get_eof,
    nullptr,                                    // get_handle
    checked_read, checked_write, checked_no_op /*flush*/, checked_no_op /*truncate*/, checked_lock, checked_unlock,
    H5FD_FLMAP_DICHOTOMY};

hid_t checked_driver() {
  static const hid_t id = H5FDregister(&kCheckedDriver);
  return id;
}

H5::H5File open_file(const std::string& file) { return detail::open_h5_for_reading(file); }

// Checked before allocating: a header that claims a 100 GB dataset in a small
// file is an error, not an allocation. The bytes a dataset reads into can
// exceed what it stores only through compression (deflate expands at most
// ~1032 times) or a fill value (data never written); both are bounded here by
// 1100 times the stored bytes, counted at most as the file's size (the
// storage size is itself read from the file), plus 1 MiB.
void check_fits_file(const std::string& file, const std::string& where, const H5::DataSet& ds, int64_t numel,
                     int64_t stored_element_size) {
  std::error_code ec;
  const uint64_t file_size = std::filesystem::file_size(file, ec);
  const uint64_t stored = std::min<uint64_t>(ds.getStorageSize(), ec ? 0 : file_size);
  const uint64_t limit = stored * 1100 + (uint64_t{1} << 20);
  int64_t nbytes = 0;
  if (__builtin_mul_overflow(numel, std::max<int64_t>(stored_element_size, 1), &nbytes) ||
      static_cast<uint64_t>(nbytes) > limit) {
    fail(file, where + " claims " + std::to_string(numel) + " elements, more than the " + std::to_string(stored) +
                   " bytes it stores can hold (corrupt file)");
  }
}

// What must hold of a dataset before libhdf5 reads it, given its element
// count: read_h5_dataset's checks, and matio's v7.3 variables' (mat.cpp).
void check_storage(const std::string& file, const std::string& where, const H5::DataSet& ds,
                   const H5::DSetCreatPropList& plist, int64_t numel) {
  // Numbers take 1 to 16 bytes; libhdf5 sizes its conversion buffer from the
  // stored size, which a corrupt header sets to anything (fuzz_retina_layout:
  // an 805 MB buffer for a 7 KB file).
  const size_t element_size = ds.getDataType().getSize();
  if (element_size < 1 || element_size > 16) {
    fail(file, where + " has numbers of " + std::to_string(element_size) + " bytes (corrupt file)");
  }
  check_fits_file(file, where, ds, numel, static_cast<int64_t>(element_size));
  // Unfiltered data that is stored must be stored whole: libhdf5 1.10 copies
  // from a compact or contiguous buffer that a corrupt header makes too
  // short (a segfault in H5D__contig_read found by fuzz_hdf5).
  const H5D_layout_t layout = plist.getLayout();
  const uint64_t stored = ds.getStorageSize();
  const uint64_t needed = static_cast<uint64_t>(numel) * element_size;
  if ((layout == H5D_COMPACT || (layout == H5D_CONTIGUOUS && stored > 0)) && stored < needed) {
    fail(file, where + " stores " + std::to_string(stored) + " bytes, its shape and type need " +
                   std::to_string(needed) + " (corrupt file)");
  }
}

}  // namespace

void detail::check_h5_dataset_storage(const std::string& file, const std::string& path_in_file) {
  H5::H5File f = open_file(file);
  try {
    if (!f.nameExists(path_in_file) || f.childObjType(path_in_file) != H5O_TYPE_DATASET) return;
    H5::DataSet ds = f.openDataSet(path_in_file);
    const std::string where = "dataset '" + path_in_file + "'";
    const H5::DSetCreatPropList plist = ds.getCreatePlist();
    if (plist.getLayout() == H5D_VIRTUAL || plist.getExternalCount() > 0) {
      fail(file, where + " keeps its data in other files (external or virtual storage), which fovea does not read");
    }
    const hssize_t numel = ds.getSpace().getSimpleExtentNpoints();
    if (numel < 0) fail(file, where + " has an invalid shape");
    check_storage(file, where, ds, plist, static_cast<int64_t>(numel));
  } catch (const H5::Exception& e) {
    fail(file, "cannot read dataset '" + path_in_file + "': " + e.getDetailMsg());
  }
}

H5::H5File detail::open_h5_for_reading(const std::string& file) {
  if (!std::filesystem::exists(file)) fail(file, "file does not exist");
  try {
    H5::Exception::dontPrint();
    const hid_t driver = checked_driver();
    if (driver < 0) fail(file, "cannot set up fovea's HDF5 file driver");
    H5::FileAccPropList access;
    if (H5Pset_driver(access.getId(), driver, nullptr) < 0) fail(file, "cannot set up fovea's HDF5 file driver");
    return H5::H5File(file, H5F_ACC_RDONLY, H5::FileCreatPropList::DEFAULT, access);
  } catch (const H5::Exception&) {
    fail(file, "not an HDF5 file or cannot be opened");
  }
}

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
    const std::string where = "dataset '" + path_in_file + "'";
    // Data in other files (external storage, virtual datasets) is not read:
    // a file must not make fovea open whatever paths it names.
    const H5::DSetCreatPropList plist = ds.getCreatePlist();
    if (plist.getLayout() == H5D_VIRTUAL || plist.getExternalCount() > 0) {
      fail(file, where + " keeps its data in other files (external or virtual storage), which fovea does not read");
    }
    H5::DataSpace space = ds.getSpace();
    const int rank = space.getSimpleExtentNdims();
    if (rank < 0 || rank > 32) fail(file, where + " has an invalid rank " + std::to_string(rank));
    std::vector<hsize_t> dims(static_cast<size_t>(rank));
    space.getSimpleExtentDims(dims.data());
    std::vector<int64_t> shape;
    int64_t numel = 1;
    for (const hsize_t d : dims) {
      if (d > static_cast<hsize_t>(INT64_MAX) || __builtin_mul_overflow(numel, static_cast<int64_t>(d), &numel)) {
        fail(file, where + " has an impossible shape");
      }
      shape.push_back(static_cast<int64_t>(d));
    }
    const H5T_class_t cls = ds.getTypeClass();
    if (cls != H5T_FLOAT && cls != H5T_INTEGER) fail(file, where + " is not numeric");
    check_storage(file, where, ds, plist, numel);
    const bool dbl = cls == H5T_FLOAT && ds.getFloatType().getSize() > 4;
    at::Tensor out;
    if (cls == H5T_FLOAT) {
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
