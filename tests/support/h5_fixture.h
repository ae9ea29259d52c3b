// Read-only access to HDF5 fixture files written by tests/reference/*.py: datasets as CPU
// tensors (f32 or i32, any rank, scalars as shape ()), string attributes of the root group.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "core/tensor/tensor.h"

namespace st::testing {

class H5Fixture {
 public:
  explicit H5Fixture(const std::string& path);
  ~H5Fixture();
  H5Fixture(const H5Fixture&) = delete;
  H5Fixture& operator=(const H5Fixture&) = delete;

  bool has(const std::string& dataset) const;
  Tensor read(const std::string& dataset) const;  // f32 for float data, i32 for integers
  long long offset(const std::string& dataset) const;  // file offset of a contiguous dataset's data
  std::string attribute(const std::string& name) const;
  // "a=1;b=x" -> {a: "1", b: "x"}
  std::map<std::string, std::string> attribute_map(const std::string& name) const;

 private:
  long long file_;
  std::string path_;
};

// Directory of the committed fixtures (set by CMake).
std::string fixtures_dir();

}  // namespace st::testing
