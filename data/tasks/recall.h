// `st-data recall`: a long-range recall task for long-context runs, DIR/{train,val,test}-*.h5.
// A sequence of seq_len tokens is noise with one key-value pair: the marker (id 1) at position
// p, followed by its value (id 2 + v, v in [0, classes)). Ids: 0 padding (never written),
// 1 marker, 2 .. 1 + classes values, then `noise` noise ids. p is uniform in
// [min_pos, seq_len - 2] (classification) or [0, seq_len / 2 - 2] (language model).
// - classification (task "recall"): the label is v; the model must find the one marked token
//   among seq_len and read its value out at the pooled vector.
// - language model (task "recall-lm"): the last two tokens are the marker again and the value,
//   so a causal model that predicts the final token must recall a value at least seq_len / 2
//   tokens back. (Its loss also counts the noise tokens, which no model can predict.)
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/shard.h"
#include "data/tasks/job.h"

namespace st::tasks {

struct RecallOptions {
  int64_t seq_len = 4096;
  int64_t classes = 8;   // values
  int64_t noise = 16;    // noise ids
  int64_t min_pos = -1;  // classification: earliest marker position; -1: seq_len / 2
  bool lm = false;       // language-model shards (no labels)
  void validate() const;  // throws naming the option
};

ShardMeta recall_meta(const RecallOptions& opt);

// Example `index` of a stream: the ids (seq_len) and, for classification, the label.
struct RecallExample {
  std::vector<int32_t> ids;
  int32_t label = 0;
  int64_t marker = 0;  // p
};
RecallExample make_recall_example(const RecallOptions& opt, uint64_t seed, uint64_t stream, uint64_t index);

std::vector<SplitResult> generate_recall_dataset(const std::string& out_dir, const RecallOptions& opt,
                                                 const SplitCounts& counts, const JobOptions& job);

}  // namespace st::tasks
