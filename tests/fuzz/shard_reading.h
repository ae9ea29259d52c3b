// What the shard fuzz targets do with a file: validate it as a shard, summarise it as st-data
// inspect does and, when it validated, read a few batches through the loader in eval mode.
// Refusals must be st::Error (refusals_are_errors).
#pragma once
#include <string>

#include "data/loader.h"
#include "data/shard.h"
#include "data/tasks/inspect.h"
#include "tests/fuzz/fuzz_support.h"

namespace st::fuzz {

inline void read_as_shard(const std::string& path) {
  bool valid = false;
  refusals_are_errors([&] {
    validate_shard(path);
    valid = true;
  });
  refusals_are_errors([&] { tasks::inspect_shards({path}, 16); });
  if (!valid) return;
  refusals_are_errors([&] {
    LoaderConfig cfg;
    cfg.glob = path;
    cfg.batch_size = 2;
    cfg.training = false;
    cfg.prefetch = 1;
    cfg.block_size = 4;
    cfg.shuffle_buffer = 4;
    Loader loader(cfg);
    Batch batch;
    for (int i = 0; i < 4 && loader.next(batch); ++i) {
    }
  });
}

}  // namespace st::fuzz
