// The safetensors reader on well-formed and hostile files: values of each float dtype; offsets
// that are not integers, tensors that overlap or leave holes, fields of the wrong JSON type and
// shapes whose size overflows are errors naming the file and the tensor.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "data/safetensors.h"
#include "tests/data/temp_dir.h"
#include "tests/support/expect_error.h"

namespace st {
namespace {

using testing::expect_error;
using testing::TempDir;

// A file: 8-byte little-endian header length, the header, then `data`.
std::string write_safetensors(const TempDir& dir, const std::string& name, const std::string& header,
                              const std::vector<uint8_t>& data) {
  std::string path = dir.file(name);
  std::ofstream out(path, std::ios::binary);
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((n >> (8 * i)) & 0xFF));
  out << header;
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  return path;
}

std::vector<uint8_t> floats(std::vector<float> v) {
  std::vector<uint8_t> out(v.size() * 4);
  std::memcpy(out.data(), v.data(), out.size());
  return out;
}

TEST(SafeTensors, ReadsTensorsThatTileTheDataSection) {
  TempDir dir;
  std::string path = write_safetensors(
      dir, "ok.safetensors",
      R"({"__metadata__": {"format": "pt"}, "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]},)"
      R"( "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})",
      floats({1.5f, -2.f, 3.f}));
  SafeTensorsFile f(path);
  EXPECT_EQ(f.names(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(f.read_f32("a"), (std::vector<float>{1.5f, -2.f}));
  EXPECT_EQ(f.read_f32("b"), (std::vector<float>{3.f}));
  EXPECT_EQ(f.metadata().at("format"), "pt");
}

TEST(SafeTensors, HostileHeadersAreErrorsNamingTheFileAndTensor) {
  TempDir dir;
  const std::vector<uint8_t> data = floats({1, 2, 3, 4});
  struct Case {
    const char* name;
    std::string header;
    std::vector<std::string> parts;
  };
  const std::vector<Case> cases = {
      {"overlap", R"({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 12]},)"
                  R"( "b": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}})",
       {"tensors 'a' and 'b' overlap"}},
      {"hole", R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},)"
               R"( "b": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}})",
       {"bytes [4, 8) of the data section belong to no tensor", "'b'"}},
      {"tail", R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})",
       {"the last 8 bytes of the data section belong to no tensor"}},
      {"fractional", R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0.5, 16.5]}})",
       {"tensor 'a' data_offsets is not [begin, end] of integers"}},
      {"shape-string", R"({"a": {"dtype": "F32", "shape": "4", "data_offsets": [0, 16]}})",
       {"tensor 'a' shape is not an array"}},
      {"dtype-number", R"({"a": {"dtype": 7, "shape": [4], "data_offsets": [0, 16]}})",
       {"tensor 'a' dtype is not a string"}},
      {"negative-dim", R"({"a": {"dtype": "F32", "shape": [-4], "data_offsets": [0, 16]}})",
       {"tensor 'a' has a bad shape"}},
      {"overflow", R"({"a": {"dtype": "F32", "shape": [4611686018427387904, 4], "data_offsets": [0, 16]}})",
       {"tensor 'a' size", "overflows"}},
  };
  for (const Case& c : cases) {
    std::string path = write_safetensors(dir, std::string(c.name) + ".safetensors", c.header, data);
    std::vector<std::string> parts = c.parts;
    parts.push_back(path);
    expect_error([&] { SafeTensorsFile f(path); }, parts);
  }
}

}  // namespace
}  // namespace st
