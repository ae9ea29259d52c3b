// Small RAII wrappers over the HDF5 C API, used by shards and checkpoints. libhdf5 as packaged is
// not thread-safe: every call made through these wrappers holds one process-wide lock
// (h5_lock()), which any other HDF5 user in the process must take too.
#pragma once
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace st::h5 {

std::recursive_mutex& h5_lock();

// An open HDF5 object id, closed with the right H5*close on destruction.
class Handle {
 public:
  enum class Kind { File, Group, Dataset, Dataspace, Datatype, Attribute, PropertyList };
  Handle() = default;
  Handle(long long id, Kind kind) : id_(id), kind_(kind) {}
  ~Handle();
  Handle(Handle&& o) noexcept : id_(o.id_), kind_(o.kind_) { o.id_ = -1; }
  Handle& operator=(Handle&& o) noexcept;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  long long id() const { return id_; }
  bool valid() const { return id_ >= 0; }
  long long release() {  // the id, no longer closed by this handle
    long long id = id_;
    id_ = -1;
    return id;
  }

 private:
  long long id_ = -1;
  Kind kind_ = Kind::File;
};

enum class ElementType { Int32, Int64, Float32, Float64, Other };

struct DatasetInfo {
  ElementType type = ElementType::Other;
  std::vector<int64_t> dims;
  // Every element has storage in the file: all chunks written (chunked), or the whole extent
  // (contiguous). False for a dataset extended but never written (its "data" would be fill).
  bool fully_stored = true;
};

class File {
 public:
  File() = default;
  File(File&&) = default;
  File& operator=(File&&) = default;
  // A file created for writing and destroyed by an exception before close() (a full disk, say)
  // is unfinished: it is truncated to 0 bytes first, so that HDF5 can close it (on a full disk
  // its final flush would fail and leave HDF5 with a half-closed file that crashes it at exit).
  ~File();

  // Opens read-only; throws naming the path when it is missing, truncated or not HDF5.
  static File open_read(const std::string& path);
  // Creates (truncating) a file for writing.
  static File create(const std::string& path);

  const std::string& path() const { return path_; }
  bool has(const std::string& name) const;  // dataset or group, "a/b" paths
  DatasetInfo info(const std::string& dataset) const;
  // Names of the members of a group, sorted (empty when the group does not exist).
  std::vector<std::string> list(const std::string& group) const;

  // Whole datasets or row ranges [row0, row0 + rows) of a 1-D or 2-D dataset.
  std::vector<int32_t> read_i32(const std::string& dataset) const;
  std::vector<float> read_f32(const std::string& dataset) const;
  std::vector<double> read_f64(const std::string& dataset) const;
  void read_i32_rows(const std::string& dataset, int64_t row0, int64_t rows, int32_t* out) const;
  // Columns [col0, col0 + cols) of rows [row0, row0 + rows) of a 2-D dataset (row-major out).
  void read_i32_block(const std::string& dataset, int64_t row0, int64_t rows, int64_t col0,
                      int64_t cols, int32_t* out) const;
  // Visits a 2-D int32 dataset of `rows` x `cols` in row-major order, in pieces of at most
  // kPieceValues values whatever its shape: blocks of whole rows when a row fits, else one row
  // at a time in column ranges. fn(row0, rows, col0, cols, data), data laid out (rows, cols).
  static constexpr int64_t kPieceValues = int64_t{1} << 22;  // 16 MiB
  void for_each_i32_piece(
      const std::string& dataset, int64_t rows, int64_t cols,
      const std::function<void(int64_t row0, int64_t rows, int64_t col0, int64_t cols, const int32_t*)>& fn) const;

  // Datasets: created whole (chunk_rows > 0: chunked along the first dimension, compressed),
  // or extendible along the first dimension and appended to.
  void write_i32(const std::string& dataset, const std::vector<int64_t>& dims, const int32_t* data,
                 int64_t chunk_rows = 0);
  void write_f32(const std::string& dataset, const std::vector<int64_t>& dims, const float* data,
                 int64_t chunk_rows = 0);
  void write_f64(const std::string& dataset, const std::vector<int64_t>& dims, const double* data);
  void create_extendible_i32(const std::string& dataset, int64_t row_width, int64_t chunk_rows);
  void append_i32(const std::string& dataset, const int32_t* data, int64_t rows);

  // Attributes of the root group.
  bool has_attribute(const std::string& name) const;
  void set_attribute(const std::string& name, const std::string& value);
  void set_attribute(const std::string& name, int64_t value);
  void set_attribute(const std::string& name, double value);
  std::string string_attribute(const std::string& name) const;
  int64_t int_attribute(const std::string& name) const;
  double double_attribute(const std::string& name) const;

  void flush();
  void close();    // throws when the final writes fail (the file is then lost)
  void discard() noexcept;  // an unfinished file: emptied (if written) and closed, never throws

 private:
  Handle file_;
  std::string path_;
  bool writer_ = false;          // made by create()
  int exceptions_at_create_ = 0;  // std::uncaught_exceptions() then
  void ensure_groups(const std::string& dataset);
};

// Writes a whole file under PATH.tmp through fill, then flushes, closes, syncs it to disk,
// renames it to PATH and syncs the directory: PATH is either its old self or complete. On any failure the temporary is
// removed and the error (with its errno meaning) propagates.
void write_file_atomically(const std::string& path, const std::function<void(File&)>& fill);

}  // namespace st::h5
