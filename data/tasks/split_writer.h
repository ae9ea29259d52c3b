// Writes one split of a task as a series of shards PREFIX-00000.h5, PREFIX-00001.h5, ... of at
// most `shard_size` examples each (a split is then opened with the glob PREFIX-*.h5). Examples
// are buffered and appended in blocks. Existing shards of the same prefix are an error unless
// `overwrite` is set (then they are removed first, so no stale shard joins the glob).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/shard.h"

namespace st::tasks {

struct Example {
  std::vector<int32_t> inputs;   // seq_len ids
  std::vector<int32_t> inputs2;  // pair tasks only
  int32_t label = 0;             // ignored for language-model shards
};

// The file name of shard `index` of a split.
std::string shard_path(const std::string& prefix, int64_t index);
// Existing shards PREFIX-NNNNN.h5 (sorted).
std::vector<std::string> existing_shards(const std::string& prefix);
// Fails (naming the file and --overwrite) when one of the splits already has shards, so that a
// multi-split job stops before writing anything.
void check_outputs_free(const std::vector<std::string>& prefixes, bool overwrite);

class SplitWriter {
 public:
  SplitWriter(std::string prefix, ShardMeta meta, int64_t shard_size, bool overwrite);
  ~SplitWriter();  // an unclosed writer removes the shards it wrote
  SplitWriter(const SplitWriter&) = delete;
  SplitWriter& operator=(const SplitWriter&) = delete;

  void add(const Example& e);
  // Raw form: seq_len ids each (inputs2 may be null for single-sequence tasks).
  void add(const int32_t* inputs, const int32_t* inputs2, int32_t label);
  // Flushes and publishes the last shard; returns the files written.
  std::vector<std::string> close();

  int64_t examples() const { return total_; }
  const ShardMeta& meta() const { return meta_; }

 private:
  void flush();

  std::string prefix_;
  ShardMeta meta_;
  int64_t shard_size_;
  std::unique_ptr<ShardWriter> current_;
  int64_t in_current_ = 0, total_ = 0;
  std::vector<int32_t> inputs_, inputs2_, labels_;
  std::vector<std::string> files_;
  bool closed_ = false;
};

// Copies ids into a row of exactly `len` ids: truncated, or padded with kPadId.
std::vector<int32_t> fit_to_length(std::vector<int32_t> ids, int64_t len);

}  // namespace st::tasks
