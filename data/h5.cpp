// HDF5 C API wrappers; see h5.h. Every function takes the process-wide HDF5 lock.
#include "data/h5.h"

#include <fcntl.h>
#include <hdf5.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <exception>
#include <sstream>

#include "core/tensor/checked.h"
#include "core/tensor/error.h"
#include "data/h5_watchdog.h"
#include "data/io_error.h"

namespace st::h5 {

std::recursive_mutex& h5_lock() {
  static std::recursive_mutex m;
  return m;
}

namespace {
using Lock = std::lock_guard<std::recursive_mutex>;

// After a failed HDF5 write (errno cleared before it): the system's reason where there is one.
std::string write_error() {
  int e = errno;
  return e != 0 ? errno_message(e) : std::string("the HDF5 library reported a failure (disk full?)");
}

// HDF5's automatic error printing is off: our errors say what failed. In a thread-safe HDF5
// the setting belongs to the calling thread, so every thread (the loaders' readers, st-data's
// workers) sets it. Before the library's first call: no clean-up at exit, where HDF5 1.10 closes
// files left open and crashes on one whose writes failed (a full disk); every file we write is
// closed explicitly, and an unfinished one is garbage.
void silence_hdf5() {
  static bool no_atexit = [] {
    H5dont_atexit();
    // External links are never followed anywhere (a group listing would otherwise open the
    // file they name): shards and checkpoints hold their own data.
    H5Lunregister(H5L_TYPE_EXTERNAL);
    return true;
  }();
  static thread_local bool done = [] {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)no_atexit;
  (void)done;
}

// Every call into HDF5 holds the process-wide lock, with error printing off on this thread.
struct Guard {
  Lock lock{h5_lock()};
  Guard() { silence_hdf5(); }
};

// Reads also arm the watchdog (h5_watchdog.h): a file can make the library loop forever.
struct ReadGuard {
  Guard guard;
  ReadWatch watch;
  explicit ReadGuard(const std::string& path) : watch(path) {}
};

ElementType classify(hid_t type) {
  H5T_class_t cls = H5Tget_class(type);
  size_t size = H5Tget_size(type);
  if (cls == H5T_INTEGER) {
    if (size == 4) return ElementType::Int32;
    if (size == 8) return ElementType::Int64;
  } else if (cls == H5T_FLOAT) {
    if (size == 4) return ElementType::Float32;
    if (size == 8) return ElementType::Float64;
  }
  return ElementType::Other;
}

const char* type_name(ElementType t) {
  switch (t) {
    case ElementType::Int32: return "int32";
    case ElementType::Int64: return "int64";
    case ElementType::Float32: return "float32";
    case ElementType::Float64: return "float64";
    default: return "another type";
  }
}
}  // namespace

Handle::~Handle() {
  if (id_ < 0) return;
  Guard guard;
  switch (kind_) {
    case Kind::File: H5Fclose(id_); break;
    case Kind::Group: H5Gclose(id_); break;
    case Kind::Dataset: H5Dclose(id_); break;
    case Kind::Dataspace: H5Sclose(id_); break;
    case Kind::Datatype: H5Tclose(id_); break;
    case Kind::Attribute: H5Aclose(id_); break;
    case Kind::PropertyList: H5Pclose(id_); break;
  }
}

Handle& Handle::operator=(Handle&& o) noexcept {
  if (this != &o) {
    this->~Handle();
    id_ = o.id_;
    kind_ = o.kind_;
    o.id_ = -1;
  }
  return *this;
}

File File::open_read(const std::string& path) {
  ReadGuard guard(path);
  hid_t id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (id < 0) {
    // Missing, not permitted, too many open files: open(2) says which. Else the contents.
    std::string why = open_failure(path, false);
    ST_CHECK(!why.empty(), path, ": not a readable HDF5 file (truncated or corrupt?)");
    ST_THROW(path, ": cannot open: ", why);
  }
  File f;
  f.file_ = Handle(id, Handle::Kind::File);
  f.path_ = path;
  return f;
}

File File::create(const std::string& path) {
  Guard guard;
  hid_t id = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (id < 0) {
    std::string why = open_failure(path, true);
    ST_THROW(path, ": cannot create: ", why.empty() ? std::string("HDF5 refused it") : why);
  }
  File f;
  f.file_ = Handle(id, Handle::Kind::File);
  f.path_ = path;
  f.writer_ = true;
  f.exceptions_at_create_ = std::uncaught_exceptions();
  return f;
}

File::~File() {
  if (writer_ && file_.valid() && std::uncaught_exceptions() > exceptions_at_create_) {
    Guard guard;
    if (::truncate(path_.c_str(), 0) != 0) {}  // best effort: the error already propagating says what failed
  }
}

std::vector<std::string> File::list(const std::string& group) const {
  ReadGuard guard(path_);
  std::vector<std::string> names;
  if (H5Lexists(file_.id(), group.c_str(), H5P_DEFAULT) <= 0) return names;
  H5G_info_t info;
  ST_CHECK(H5Gget_info_by_name(file_.id(), group.c_str(), &info, H5P_DEFAULT) >= 0, path_, ": /", group,
           " is not a group");
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    ssize_t n = H5Lget_name_by_idx(file_.id(), group.c_str(), H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    ST_CHECK(n >= 0, path_, ": cannot read the member names of /", group);
    std::string name(static_cast<size_t>(n), '\0');
    H5Lget_name_by_idx(file_.id(), group.c_str(), H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size() + 1,
                       H5P_DEFAULT);
    names.push_back(name);
  }
  return names;
}

bool File::has(const std::string& name) const {
  ReadGuard guard(path_);
  // Check each path component, as H5Lexists requires.
  std::string prefix;
  std::stringstream ss(name);
  std::string part;
  while (std::getline(ss, part, '/')) {
    if (part.empty()) continue;
    prefix += (prefix.empty() ? "" : "/") + part;
    if (H5Lexists(file_.id(), prefix.c_str(), H5P_DEFAULT) <= 0) return false;
    // Our files are self-contained: a link into another file is refused, never followed.
    H5L_info_t link{};
    ST_CHECK(H5Lget_info(file_.id(), prefix.c_str(), &link, H5P_DEFAULT) >= 0 && link.type != H5L_TYPE_EXTERNAL,
             path_, ": /", prefix, " is an external link (into another file); shards and checkpoints must "
             "hold their own data");
  }
  return true;
}

DatasetInfo File::info(const std::string& dataset) const {
  ReadGuard guard(path_);
  ST_CHECK(has(dataset), path_, ": missing dataset /", dataset);
  Handle ds(H5Dopen2(file_.id(), dataset.c_str(), H5P_DEFAULT), Handle::Kind::Dataset);
  ST_CHECK(ds.valid(), path_, ": /", dataset, " is not a dataset");
  // Data stored in other files (external storage, virtual datasets) is refused, never read.
  Handle dcpl(H5Dget_create_plist(ds.id()), Handle::Kind::PropertyList);
  ST_CHECK(dcpl.valid() && H5Pget_layout(dcpl.id()) != H5D_VIRTUAL, path_, ": /", dataset,
           " is a virtual dataset (its data lives in other files); shards and checkpoints must hold their own data");
  ST_CHECK(H5Pget_external_count(dcpl.id()) == 0, path_, ": /", dataset,
           " uses external storage (its data lives in other files); shards and checkpoints must hold their own data");
  Handle space(H5Dget_space(ds.id()), Handle::Kind::Dataspace);
  Handle type(H5Dget_type(ds.id()), Handle::Kind::Datatype);
  DatasetInfo out;
  out.type = classify(type.id());
  int rank = H5Sget_simple_extent_ndims(space.id());
  ST_CHECK(rank >= 0, path_, ": cannot read the shape of /", dataset);
  std::vector<hsize_t> dims(rank);
  H5Sget_simple_extent_dims(space.id(), dims.data(), nullptr);
  out.dims.assign(dims.begin(), dims.end());
  // Storage: count the chunks written (chunked) or the bytes allocated (contiguous).
  int64_t elements = 1;
  for (hsize_t d : dims) elements = checked_mul(elements, static_cast<int64_t>(d), "HDF5 dataset size");
  H5D_layout_t layout = H5Pget_layout(dcpl.id());
  if (layout == H5D_CHUNKED && elements > 0) {
    std::vector<hsize_t> chunk(static_cast<size_t>(rank));
    ST_CHECK(H5Pget_chunk(dcpl.id(), rank, chunk.data()) == rank, path_, ": cannot read the chunking of /", dataset);
    int64_t expected = 1;
    for (int i = 0; i < rank; ++i)
      expected = checked_mul(expected, static_cast<int64_t>((dims[i] + chunk[i] - 1) / std::max<hsize_t>(chunk[i], 1)),
                             "HDF5 chunk count");
    hsize_t written = 0;
    ST_CHECK(H5Dget_num_chunks(ds.id(), space.id(), &written) >= 0, path_, ": cannot count the chunks of /", dataset);
    out.fully_stored = static_cast<int64_t>(written) == expected;
  } else if (layout == H5D_CONTIGUOUS && elements > 0) {
    size_t element = H5Tget_size(type.id());
    out.fully_stored = H5Dget_storage_size(ds.id()) >= static_cast<hsize_t>(elements) * element;
  }
  return out;
}

namespace {
template <class T>
std::vector<T> read_all(const File& f, hid_t file, const std::string& dataset, hid_t memtype,
                        ElementType expect) {
  DatasetInfo inf = f.info(dataset);
  ST_CHECK(inf.type == expect || (expect == ElementType::Int32 && inf.type == ElementType::Int32),
           f.path(), ": /", dataset, " has ", type_name(inf.type), " elements, expected ",
           type_name(expect));
  int64_t n = 1;
  for (int64_t d : inf.dims) n *= d;
  std::vector<T> out(static_cast<size_t>(n));
  Handle ds(H5Dopen2(file, dataset.c_str(), H5P_DEFAULT), Handle::Kind::Dataset);
  if (n > 0)
    ST_CHECK(H5Dread(ds.id(), memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) >= 0, f.path(),
             ": cannot read /", dataset, " (truncated or corrupt?)");
  return out;
}
}  // namespace

std::vector<int32_t> File::read_i32(const std::string& dataset) const {
  ReadGuard guard(path_);
  return read_all<int32_t>(*this, file_.id(), dataset, H5T_NATIVE_INT32, ElementType::Int32);
}
std::vector<float> File::read_f32(const std::string& dataset) const {
  ReadGuard guard(path_);
  return read_all<float>(*this, file_.id(), dataset, H5T_NATIVE_FLOAT, ElementType::Float32);
}
std::vector<double> File::read_f64(const std::string& dataset) const {
  ReadGuard guard(path_);
  return read_all<double>(*this, file_.id(), dataset, H5T_NATIVE_DOUBLE, ElementType::Float64);
}

void File::read_i32_rows(const std::string& dataset, int64_t row0, int64_t rows, int32_t* out) const {
  ReadGuard guard(path_);
  DatasetInfo inf = info(dataset);
  int64_t width = inf.dims.size() == 2 ? inf.dims[1] : 1;
  read_i32_block(dataset, row0, rows, 0, width, out);
}

void File::read_i32_block(const std::string& dataset, int64_t row0, int64_t rows, int64_t col0,
                          int64_t cols, int32_t* out) const {
  ReadGuard guard(path_);
  if (rows == 0 || cols == 0) return;
  // A 64 MiB chunk cache, so that reads of parts of a (large, compressed) chunk decompress it
  // once rather than once per read.
  Handle dapl(H5Pcreate(H5P_DATASET_ACCESS), Handle::Kind::PropertyList);
  H5Pset_chunk_cache(dapl.id(), 12421, size_t(64) << 20, 1.0);
  Handle ds(H5Dopen2(file_.id(), dataset.c_str(), dapl.id()), Handle::Kind::Dataset);
  ST_CHECK(ds.valid(), path_, ": missing dataset /", dataset);
  Handle space(H5Dget_space(ds.id()), Handle::Kind::Dataspace);
  int rank = H5Sget_simple_extent_ndims(space.id());
  ST_CHECK(rank == 1 || rank == 2, path_, ": /", dataset, " has rank ", rank, ", expected 1 or 2");
  hsize_t start[2] = {static_cast<hsize_t>(row0), static_cast<hsize_t>(col0)};
  hsize_t count[2] = {static_cast<hsize_t>(rows), static_cast<hsize_t>(cols)};
  ST_CHECK(H5Sselect_hyperslab(space.id(), H5S_SELECT_SET, start, nullptr, count, nullptr) >= 0,
           path_, ": rows [", row0, ", ", row0 + rows, ") are outside /", dataset);
  Handle mem(H5Screate_simple(rank, count, nullptr), Handle::Kind::Dataspace);
  ST_CHECK(H5Dread(ds.id(), H5T_NATIVE_INT32, mem.id(), space.id(), H5P_DEFAULT, out) >= 0, path_,
           ": cannot read rows [", row0, ", ", row0 + rows, ") of /", dataset,
           " (truncated or corrupt?)");
}

void File::for_each_i32_piece(
    const std::string& dataset, int64_t rows, int64_t cols,
    const std::function<void(int64_t, int64_t, int64_t, int64_t, const int32_t*)>& fn) const {
  if (rows <= 0 || cols <= 0) return;
  const int64_t block_rows = std::max<int64_t>(1, kPieceValues / cols);
  const int64_t piece_cols = std::min(cols, kPieceValues);
  std::vector<int32_t> buf;
  for (int64_t r0 = 0; r0 < rows; r0 += block_rows) {
    int64_t n = std::min(block_rows, rows - r0);
    for (int64_t c0 = 0; c0 < cols; c0 += piece_cols) {
      int64_t w = std::min(piece_cols, cols - c0);
      buf.resize(static_cast<size_t>(n * w));  // n * w <= kPieceValues
      read_i32_block(dataset, r0, n, c0, w, buf.data());
      fn(r0, n, c0, w, buf.data());
    }
  }
}

void File::ensure_groups(const std::string& dataset) {
  std::string prefix;
  std::stringstream ss(dataset);
  std::string part;
  std::vector<std::string> parts;
  while (std::getline(ss, part, '/'))
    if (!part.empty()) parts.push_back(part);
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    prefix += (prefix.empty() ? "" : "/") + parts[i];
    if (H5Lexists(file_.id(), prefix.c_str(), H5P_DEFAULT) <= 0) {
      Handle g(H5Gcreate2(file_.id(), prefix.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
               Handle::Kind::Group);
      ST_CHECK(g.valid(), path_, ": cannot create group /", prefix);
    }
  }
}

namespace {
void write_dataset(hid_t file, const std::string& path, const std::string& dataset,
                   const std::vector<int64_t>& dims, hid_t filetype, hid_t memtype,
                   const void* data, int64_t chunk_rows) {
  std::vector<hsize_t> d(dims.begin(), dims.end());
  Handle space(H5Screate_simple(static_cast<int>(d.size()), d.data(), nullptr), Handle::Kind::Dataspace);
  Handle plist(H5Pcreate(H5P_DATASET_CREATE), Handle::Kind::PropertyList);
  if (chunk_rows > 0 && !d.empty() && d[0] > 0) {
    std::vector<hsize_t> chunk = d;
    chunk[0] = std::min<hsize_t>(d[0], static_cast<hsize_t>(chunk_rows));
    H5Pset_chunk(plist.id(), static_cast<int>(chunk.size()), chunk.data());
    H5Pset_shuffle(plist.id());
    H5Pset_deflate(plist.id(), 1);
  }
  Handle ds(H5Dcreate2(file, dataset.c_str(), filetype, space.id(), H5P_DEFAULT, plist.id(), H5P_DEFAULT),
            Handle::Kind::Dataset);
  ST_CHECK(ds.valid(), path, ": cannot create dataset /", dataset);
  errno = 0;
  ST_CHECK(H5Dwrite(ds.id(), memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0, path,
           ": cannot write /", dataset, ": ", write_error());
  errno = 0;  // closing writes the cached chunks (see append_i32)
  ST_CHECK(H5Dclose(ds.release()) >= 0, path, ": cannot write /", dataset, ": ", write_error());
}
}  // namespace

void File::write_i32(const std::string& dataset, const std::vector<int64_t>& dims, const int32_t* data,
                     int64_t chunk_rows) {
  Guard guard;
  ensure_groups(dataset);
  write_dataset(file_.id(), path_, dataset, dims, H5T_STD_I32LE, H5T_NATIVE_INT32, data, chunk_rows);
}
void File::write_f32(const std::string& dataset, const std::vector<int64_t>& dims, const float* data,
                     int64_t chunk_rows) {
  Guard guard;
  ensure_groups(dataset);
  write_dataset(file_.id(), path_, dataset, dims, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, data, chunk_rows);
}
void File::write_f64(const std::string& dataset, const std::vector<int64_t>& dims, const double* data) {
  Guard guard;
  ensure_groups(dataset);
  write_dataset(file_.id(), path_, dataset, dims, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, data, 0);
}

void File::create_extendible_i32(const std::string& dataset, int64_t row_width, int64_t chunk_rows) {
  Guard guard;
  ensure_groups(dataset);
  int rank = row_width > 0 ? 2 : 1;
  hsize_t dims[2] = {0, static_cast<hsize_t>(row_width)};
  hsize_t maxdims[2] = {H5S_UNLIMITED, static_cast<hsize_t>(row_width)};
  hsize_t chunk[2] = {static_cast<hsize_t>(std::max<int64_t>(chunk_rows, 1)), static_cast<hsize_t>(row_width)};
  Handle space(H5Screate_simple(rank, dims, maxdims), Handle::Kind::Dataspace);
  Handle plist(H5Pcreate(H5P_DATASET_CREATE), Handle::Kind::PropertyList);
  H5Pset_chunk(plist.id(), rank, chunk);
  H5Pset_shuffle(plist.id());
  H5Pset_deflate(plist.id(), 1);
  Handle ds(H5Dcreate2(file_.id(), dataset.c_str(), H5T_STD_I32LE, space.id(), H5P_DEFAULT, plist.id(),
                       H5P_DEFAULT),
            Handle::Kind::Dataset);
  ST_CHECK(ds.valid(), path_, ": cannot create dataset /", dataset);
}

void File::append_i32(const std::string& dataset, const int32_t* data, int64_t rows) {
  Guard guard;
  if (rows == 0) return;
  Handle ds(H5Dopen2(file_.id(), dataset.c_str(), H5P_DEFAULT), Handle::Kind::Dataset);
  ST_CHECK(ds.valid(), path_, ": missing dataset /", dataset);
  Handle space(H5Dget_space(ds.id()), Handle::Kind::Dataspace);
  int rank = H5Sget_simple_extent_ndims(space.id());
  hsize_t dims[2] = {0, 0};
  H5Sget_simple_extent_dims(space.id(), dims, nullptr);
  hsize_t old_rows = dims[0];
  dims[0] += static_cast<hsize_t>(rows);
  ST_CHECK(H5Dset_extent(ds.id(), dims) >= 0, path_, ": cannot extend /", dataset);
  Handle fspace(H5Dget_space(ds.id()), Handle::Kind::Dataspace);
  hsize_t start[2] = {old_rows, 0};
  hsize_t count[2] = {static_cast<hsize_t>(rows), rank == 2 ? dims[1] : 1};
  H5Sselect_hyperslab(fspace.id(), H5S_SELECT_SET, start, nullptr, count, nullptr);
  Handle mem(H5Screate_simple(rank, count, nullptr), Handle::Kind::Dataspace);
  errno = 0;
  ST_CHECK(H5Dwrite(ds.id(), H5T_NATIVE_INT32, mem.id(), fspace.id(), H5P_DEFAULT, data) >= 0, path_,
           ": cannot append to /", dataset, ": ", write_error());
  // Closing writes the chunks the write left in HDF5's cache: its failure (a full disk) is the
  // write's failure, and HDF5 must not be used for this file after it.
  errno = 0;
  ST_CHECK(H5Dclose(ds.release()) >= 0, path_, ": cannot append to /", dataset, ": ", write_error());
}

bool File::has_attribute(const std::string& name) const {
  ReadGuard guard(path_);
  return H5Aexists(file_.id(), name.c_str()) > 0;
}

void File::set_attribute(const std::string& name, const std::string& value) {
  Guard guard;
  if (H5Aexists(file_.id(), name.c_str()) > 0) H5Adelete(file_.id(), name.c_str());
  Handle type(H5Tcopy(H5T_C_S1), Handle::Kind::Datatype);
  H5Tset_size(type.id(), H5T_VARIABLE);
  H5Tset_cset(type.id(), H5T_CSET_UTF8);
  Handle space(H5Screate(H5S_SCALAR), Handle::Kind::Dataspace);
  Handle a(H5Acreate2(file_.id(), name.c_str(), type.id(), space.id(), H5P_DEFAULT, H5P_DEFAULT),
           Handle::Kind::Attribute);
  ST_CHECK(a.valid(), path_, ": cannot create attribute ", name);
  const char* s = value.c_str();
  ST_CHECK(H5Awrite(a.id(), type.id(), &s) >= 0, path_, ": cannot write attribute ", name);
}

void File::set_attribute(const std::string& name, int64_t value) {
  Guard guard;
  if (H5Aexists(file_.id(), name.c_str()) > 0) H5Adelete(file_.id(), name.c_str());
  Handle space(H5Screate(H5S_SCALAR), Handle::Kind::Dataspace);
  Handle a(H5Acreate2(file_.id(), name.c_str(), H5T_STD_I64LE, space.id(), H5P_DEFAULT, H5P_DEFAULT),
           Handle::Kind::Attribute);
  ST_CHECK(a.valid() && H5Awrite(a.id(), H5T_NATIVE_INT64, &value) >= 0, path_,
           ": cannot write attribute ", name);
}

void File::set_attribute(const std::string& name, double value) {
  Guard guard;
  if (H5Aexists(file_.id(), name.c_str()) > 0) H5Adelete(file_.id(), name.c_str());
  Handle space(H5Screate(H5S_SCALAR), Handle::Kind::Dataspace);
  Handle a(H5Acreate2(file_.id(), name.c_str(), H5T_IEEE_F64LE, space.id(), H5P_DEFAULT, H5P_DEFAULT),
           Handle::Kind::Attribute);
  ST_CHECK(a.valid() && H5Awrite(a.id(), H5T_NATIVE_DOUBLE, &value) >= 0, path_,
           ": cannot write attribute ", name);
}

namespace {
// An attribute of the root group that holds exactly one value of class `cls` (a scalar or a
// one-element array): reading a longer array into one value would overrun it.
Handle open_single_attribute(hid_t file, const std::string& path, const std::string& name, H5T_class_t cls,
                             const char* kind) {
  ST_CHECK(H5Aexists(file, name.c_str()) > 0, path, ": missing attribute '", name, "'");
  Handle a(H5Aopen(file, name.c_str(), H5P_DEFAULT), Handle::Kind::Attribute);
  ST_CHECK(a.valid(), path, ": cannot open attribute '", name, "'");
  Handle type(H5Aget_type(a.id()), Handle::Kind::Datatype);
  ST_CHECK(type.valid() && H5Tget_class(type.id()) == cls, path, ": attribute '", name, "' is not ", kind);
  Handle space(H5Aget_space(a.id()), Handle::Kind::Dataspace);
  hssize_t n = space.valid() ? H5Sget_simple_extent_npoints(space.id()) : -1;
  ST_CHECK(n == 1, path, ": attribute '", name, "' holds ", n, " values, expected one");
  return a;
}
}  // namespace

std::string File::string_attribute(const std::string& name) const {
  ReadGuard guard(path_);
  Handle a = open_single_attribute(file_.id(), path_, name, H5T_STRING, "a string");
  Handle ftype(H5Aget_type(a.id()), Handle::Kind::Datatype);
  if (H5Tis_variable_str(ftype.id()) > 0) {
    Handle mem(H5Tcopy(H5T_C_S1), Handle::Kind::Datatype);
    H5Tset_size(mem.id(), H5T_VARIABLE);
    H5Tset_cset(mem.id(), H5Tget_cset(ftype.id()));
    char* buf = nullptr;
    ST_CHECK(H5Aread(a.id(), mem.id(), &buf) >= 0, path_, ": cannot read attribute ", name);
    std::string out = buf ? buf : "";
    H5free_memory(buf);
    return out;
  }
  size_t n = H5Tget_size(ftype.id());
  ST_CHECK(n > 0 && n <= (size_t{1} << 30), path_, ": attribute '", name, "' has a string size of ", n, " bytes");
  std::vector<char> buf(n + 1, 0);
  ST_CHECK(H5Aread(a.id(), ftype.id(), buf.data()) >= 0, path_, ": cannot read attribute ", name);
  return std::string(buf.data());
}

int64_t File::int_attribute(const std::string& name) const {
  ReadGuard guard(path_);
  Handle a = open_single_attribute(file_.id(), path_, name, H5T_INTEGER, "an integer");
  int64_t v = 0;
  ST_CHECK(H5Aread(a.id(), H5T_NATIVE_INT64, &v) >= 0, path_, ": cannot read attribute ", name);
  return v;
}

double File::double_attribute(const std::string& name) const {
  ReadGuard guard(path_);
  Handle a = open_single_attribute(file_.id(), path_, name, H5T_FLOAT, "a floating-point number");
  double v = 0;
  ST_CHECK(H5Aread(a.id(), H5T_NATIVE_DOUBLE, &v) >= 0, path_, ": cannot read attribute ", name);
  return v;
}

void File::flush() {
  Guard guard;
  errno = 0;
  ST_CHECK(H5Fflush(file_.id(), H5F_SCOPE_GLOBAL) >= 0, path_, ": cannot write: ", write_error());
}

void File::close() {
  Guard guard;
  hid_t id = file_.release();
  if (id < 0) return;
  errno = 0;
  if (H5Fclose(id) >= 0) return;
  std::string why = write_error();
  // The id is gone either way (HDF5 must not see it again); the file is lost: free its space.
  if (writer_ && ::truncate(path_.c_str(), 0) != 0) {}
  ST_THROW(path_, ": cannot write: ", why);
}

void File::discard() noexcept {
  if (!file_.valid()) return;
  Guard guard;
  // Emptied first, so that closing cannot fail for want of space; then closed quietly.
  if (writer_ && ::truncate(path_.c_str(), 0) != 0) {}
  H5Fclose(file_.release());
}

void write_file_atomically(const std::string& path, const std::function<void(File&)>& fill) {
  std::string tmp = path + ".tmp";
  try {
    {
      File f = File::create(tmp);
      fill(f);
      f.flush();
      f.close();
    }
    int fd = ::open(tmp.c_str(), O_RDONLY | O_CLOEXEC);
    ST_CHECK(fd >= 0, tmp, ": cannot reopen to sync: ", errno_message(errno));
    int rc = ::fsync(fd);
    int e = errno;
    ::close(fd);
    ST_CHECK(rc == 0, tmp, ": cannot sync to disk: ", errno_message(e));
    ST_CHECK(std::rename(tmp.c_str(), path.c_str()) == 0, path, ": cannot move the finished file into place: ",
             errno_message(errno));
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
  // The rename itself reaches the disk with the directory.
  std::string dir = path.find('/') == std::string::npos ? "." : path.substr(0, path.rfind('/'));
  if (dir.empty()) dir = "/";
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ST_CHECK(dfd >= 0, dir, ": cannot open to sync: ", errno_message(errno));
  int rc = ::fsync(dfd);
  int e = errno;
  ::close(dfd);
  ST_CHECK(rc == 0 || e == EINVAL, dir, ": cannot sync to disk: ", errno_message(e));
}

}  // namespace st::h5
