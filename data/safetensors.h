// Reader of the safetensors format (HuggingFace): an 8-byte little-endian header length, a JSON
// header {name: {dtype, shape, data_offsets: [begin, end)}, "__metadata__": {...}} and the raw
// little-endian tensor bytes, offsets counted from the end of the header. Tensors are read
// whole into fp32 (F32 as is; F16, BF16 and F64 converted). Every inconsistency (a header past
// the end of the file, offsets that are not integers or do not match the shape, tensors that
// overlap or leave holes in the data section, an unknown dtype, a field of the wrong JSON type)
// is an error naming the file and the tensor.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace st {

class SafeTensorsFile {
 public:
  struct Entry {
    std::string dtype;           // "F32", "F16", "BF16", "F64", "I64", ...
    std::vector<int64_t> shape;
    uint64_t begin = 0, end = 0;  // byte range within the data section
  };

  explicit SafeTensorsFile(std::string path);  // reads and checks the header

  const std::string& path() const { return path_; }
  bool has(const std::string& name) const { return entries_.count(name) > 0; }
  const Entry& entry(const std::string& name) const;  // throws naming the tensor if absent
  std::vector<std::string> names() const;             // sorted
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  // The tensor's elements in row-major order as fp32 (floating-point dtypes only).
  std::vector<float> read_f32(const std::string& name) const;

 private:
  void check_tiling(uint64_t data_size) const;

  std::string path_;
  uint64_t data_start_ = 0;
  std::map<std::string, Entry> entries_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace st
