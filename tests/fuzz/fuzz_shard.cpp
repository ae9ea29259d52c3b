// Fuzz target: a data shard from someone else. The input is the bytes of one HDF5 file; it is
// validated (validate_shard), summarised (st-data inspect) and, when valid, read through the
// loader in eval mode for up to a few batches. Refusals must be st::Error; reads must stay within
// memory and time, whatever sizes the file claims.
#include <cstdint>

#include "data/loader.h"
#include "data/shard.h"
#include "data/tasks/inspect.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string path = st::fuzz::Scratch::get().write("shard.h5", data, size);
  bool valid = false;
  st::fuzz::refusals_are_errors([&] {
    st::validate_shard(path);
    valid = true;
  });
  st::fuzz::refusals_are_errors([&] { st::tasks::inspect_shards({path}, 16); });
  if (!valid) return 0;
  st::fuzz::refusals_are_errors([&] {
    st::LoaderConfig cfg;
    cfg.glob = path;
    cfg.batch_size = 4;
    cfg.training = false;
    cfg.prefetch = 1;
    cfg.block_size = 8;
    cfg.shuffle_buffer = 8;
    st::Loader loader(cfg);
    st::Batch batch;
    for (int i = 0; i < 4 && loader.next(batch); ++i) {
    }
  });
  return 0;
}
