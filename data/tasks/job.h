// Driving the generation of a split: examples are made in parallel blocks from per-example
// seeds and written in index order by one writer thread, so shards are identical for any
// thread count. Also the options and results shared by all generators and converters.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "data/shard.h"
#include "data/tasks/progress.h"
#include "data/tasks/split_writer.h"

namespace st::tasks {

struct SplitCounts {
  int64_t train = 0, val = 0, test = 0;
};

struct JobOptions {
  uint64_t seed = 0;
  int64_t shard_size = 10000;  // examples per shard file
  int threads = 0;             // 0: one per hardware thread
  bool overwrite = false;      // replace existing shards of the same split
  Progress* progress = nullptr;
  // Converters: the share of the input carved out as a validation split, and its prefix (empty:
  // "val" beside the output prefix). See carved_split.h.
  double val_fraction = 0;
  std::string val_prefix;
};

struct SplitResult {
  std::string name;  // "train", ...
  int64_t examples = 0;
  std::vector<std::string> files;
};

// What a converter wrote.
struct ConvertResult {
  int64_t examples = 0;
  int64_t truncated = 0;  // examples cut to seq_len
  int64_t skipped = 0;    // blank lines / partial records left out
  std::vector<std::string> files;
  int64_t val_examples = 0;  // carved out by --val-fraction
  std::vector<std::string> val_files;
};

// Example `index` of a split; `retry` > 0 asks for a fresh draw (the previous one was refused).
using MakeExample = std::function<Example(int64_t index, int64_t retry)>;
// Called in index order before an example is written; false refuses it (e.g. a duplicate).
using AcceptExample = std::function<bool(const Example&)>;

// Writes n examples to PREFIX-00000.h5, ... (nothing when n == 0). `label` names the phase on
// the progress line.
SplitResult generate_split(const std::string& prefix, const std::string& label,
                           const ShardMeta& meta, int64_t n, const JobOptions& job,
                           const MakeExample& make, const AcceptExample& accept = {});

// The random stream of each split, so that train/val/test draw independent examples.
uint64_t split_stream(const std::string& split);

}  // namespace st::tasks
