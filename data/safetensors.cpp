// safetensors reading; see safetensors.h.
#include "data/safetensors.h"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/math/bf16.h"
#include "core/tensor/checked.h"
#include "core/tensor/error.h"
#include "data/io_error.h"
#include "data/json_limits.h"

namespace st {

namespace {
size_t dtype_bytes(const std::string& dtype) {
  if (dtype == "F64" || dtype == "I64" || dtype == "U64") return 8;
  if (dtype == "F32" || dtype == "I32" || dtype == "U32") return 4;
  if (dtype == "F16" || dtype == "BF16" || dtype == "I16" || dtype == "U16") return 2;
  if (dtype == "I8" || dtype == "U8" || dtype == "BOOL" || dtype == "F8_E4M3" || dtype == "F8_E5M2") return 1;
  return 0;
}

// IEEE half to float, subnormals and infinities included.
float half_to_float(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16, exp = (h >> 10) & 0x1Fu, man = h & 0x3FFu, bits;
  if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do {
        ++e;
        man <<= 1;
      } while ((man & 0x400u) == 0);
      bits = sign | static_cast<uint32_t>(127 - 15 - e) << 23 | (man & 0x3FFu) << 13;
    }
  } else if (exp == 0x1F) {
    bits = sign | 0x7F800000u | man << 13;
  } else {
    bits = sign | (exp + 127 - 15) << 23 | man << 13;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
}  // namespace

SafeTensorsFile::SafeTensorsFile(std::string path) : path_(std::move(path)) {
  std::ifstream in(path_, std::ios::binary | std::ios::ate);
  ST_CHECK(in.good(), path_, ": cannot open: ", errno_message(errno));
  auto file_size = static_cast<uint64_t>(in.tellg());
  ST_CHECK(file_size >= 8, path_, ": too short for a safetensors file (", file_size, " bytes)");
  in.seekg(0);
  unsigned char len_bytes[8];
  in.read(reinterpret_cast<char*>(len_bytes), 8);
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = header_len << 8 | len_bytes[i];
  ST_CHECK(header_len <= file_size - 8, path_, ": header length ", header_len, " runs past the end of the file (",
           file_size, " bytes); not a safetensors file?");
  std::string header(header_len, '\0');
  in.read(header.data(), static_cast<std::streamsize>(header_len));
  data_start_ = 8 + header_len;
  // {"name": {"dtype", "shape": [...], "data_offsets": [...]}, "__metadata__": {...}}
  check_json_depth(header, 3, path_ + ": header");
  nlohmann::json j = nlohmann::json::parse(header, nullptr, /*allow_exceptions=*/false);
  ST_CHECK(j.is_object(), path_, ": the header is not a JSON object");
  uint64_t data_size = file_size - data_start_;
  for (auto& [name, v] : j.items()) {
    if (name == "__metadata__") {
      if (v.is_object())
        for (auto& [k, m] : v.items())
          if (m.is_string()) metadata_[k] = m.get<std::string>();
      continue;
    }
    ST_CHECK(v.is_object() && v.contains("dtype") && v.contains("shape") && v.contains("data_offsets"), path_,
             ": tensor '", name, "' lacks dtype, shape or data_offsets");
    const nlohmann::json &dtype = v["dtype"], &shape = v["shape"], &off = v["data_offsets"];
    ST_CHECK(dtype.is_string(), path_, ": tensor '", name, "' dtype is not a string");
    Entry e;
    e.dtype = dtype.get<std::string>();
    auto bytes = static_cast<int64_t>(dtype_bytes(e.dtype));
    ST_CHECK(bytes > 0, path_, ": tensor '", name, "' has an unknown dtype ", e.dtype);
    ST_CHECK(shape.is_array(), path_, ": tensor '", name, "' shape is not an array");
    const std::string what = path_ + ": tensor '" + name + "' size";
    int64_t size_bytes = bytes;
    for (const auto& d : shape) {
      ST_CHECK(d.is_number_unsigned() && d.get<uint64_t>() <= uint64_t{INT64_MAX}, path_, ": tensor '", name,
               "' has a bad shape (dimensions are integers >= 0)");
      e.shape.push_back(d.get<int64_t>());
      size_bytes = checked_mul(size_bytes, e.shape.back(), what.c_str());
    }
    ST_CHECK(off.is_array() && off.size() == 2 && off[0].is_number_unsigned() && off[1].is_number_unsigned(),
             path_, ": tensor '", name, "' data_offsets is not [begin, end] of integers >= 0");
    e.begin = off[0].get<uint64_t>();
    e.end = off[1].get<uint64_t>();
    ST_CHECK(e.begin <= e.end && e.end <= data_size, path_, ": tensor '", name, "' bytes [", e.begin, ", ", e.end,
             ") lie outside the data section (", data_size, " bytes)");
    ST_CHECK(e.end - e.begin == static_cast<uint64_t>(size_bytes), path_, ": tensor '", name, "' has ",
             e.end - e.begin, " bytes, its shape and dtype ", e.dtype, " need ", size_bytes);
    entries_[name] = std::move(e);
  }
  check_tiling(data_size);
}

// The format's rule: the tensors' byte ranges tile the data section, in some order, with neither
// overlaps (two tensors sharing bytes) nor holes.
void SafeTensorsFile::check_tiling(uint64_t data_size) const {
  std::vector<std::pair<const std::string*, const Entry*>> by_begin;
  for (const auto& [name, e] : entries_) by_begin.emplace_back(&name, &e);
  std::sort(by_begin.begin(), by_begin.end(), [](const auto& a, const auto& b) {
    return a.second->begin != b.second->begin ? a.second->begin < b.second->begin : a.second->end < b.second->end;
  });
  uint64_t covered = 0;
  const std::string* previous = nullptr;
  for (const auto& [name, e] : by_begin) {
    ST_CHECK(e->begin >= covered, path_, ": tensors '", *previous, "' and '", *name,
             "' overlap (bytes from ", e->begin, ")");
    ST_CHECK(e->begin == covered, path_, ": bytes [", covered, ", ", e->begin,
             ") of the data section belong to no tensor (before '", *name, "')");
    covered = e->end;
    previous = name;
  }
  ST_CHECK(covered == data_size, path_, ": the last ", data_size - covered,
           " bytes of the data section belong to no tensor");
}

const SafeTensorsFile::Entry& SafeTensorsFile::entry(const std::string& name) const {
  auto it = entries_.find(name);
  ST_CHECK(it != entries_.end(), path_, ": has no tensor '", name, "'");
  return it->second;
}

std::vector<std::string> SafeTensorsFile::names() const {
  std::vector<std::string> out;
  for (auto& [n, _] : entries_) out.push_back(n);
  return out;
}

std::vector<float> SafeTensorsFile::read_f32(const std::string& name) const {
  const Entry& e = entry(name);
  std::vector<char> raw(e.end - e.begin);
  std::ifstream in(path_, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(data_start_ + e.begin));
  in.read(raw.data(), static_cast<std::streamsize>(raw.size()));
  ST_CHECK(in.good() || raw.empty(), path_, ": cannot read tensor '", name, "' (file truncated?)");
  size_t n = raw.size() / dtype_bytes(e.dtype);
  std::vector<float> out(n);
  if (e.dtype == "F32") {
    std::memcpy(out.data(), raw.data(), raw.size());
  } else if (e.dtype == "F64") {
    for (size_t i = 0; i < n; ++i) {
      double d;
      std::memcpy(&d, raw.data() + 8 * i, 8);
      out[i] = static_cast<float>(d);
    }
  } else if (e.dtype == "F16" || e.dtype == "BF16") {
    for (size_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, raw.data() + 2 * i, 2);
      out[i] = e.dtype == "F16" ? half_to_float(h) : bits_float(static_cast<uint32_t>(h) << 16);
    }
  } else {
    ST_THROW(path_, ": tensor '", name, "' has dtype ", e.dtype, ", not a floating-point type");
  }
  return out;
}

}  // namespace st
