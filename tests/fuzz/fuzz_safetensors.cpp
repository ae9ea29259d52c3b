// Fuzz target: a safetensors file (st-import's input). The header is parsed and every tensor of
// a floating-point dtype is read as fp32. Refusals must be st::Error naming the file and tensor.
#include <cstdint>

#include "data/safetensors.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string path = st::fuzz::Scratch::get().write("model.safetensors", data, size);
  st::fuzz::refusals_are_errors([&] {
    st::SafeTensorsFile file(path);
    for (const std::string& name : file.names())
      st::fuzz::refusals_are_errors([&] { file.read_f32(name); });
  });
  return 0;
}
