// Fuzz target: a data shard from someone else. The input is the bytes of one HDF5 file; it is
// validated (validate_shard), summarised (st-data inspect) and, when valid, read through the
// loader in eval mode for up to a few batches. Refusals must be st::Error; reads must stay within
// memory and time, whatever sizes the file claims.
#include <cstdint>

#include "tests/fuzz/fuzz_support.h"
#include "tests/fuzz/shard_reading.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string path = st::fuzz::Scratch::get().write("shard.h5", data, size);
  st::fuzz::read_as_shard(path);
  return 0;
}
