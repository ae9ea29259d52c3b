// `st-data recall`: a long-range recall task for long-context runs, DIR/{train,val,test}-*.h5.
// Ids: 0 padding (never written), 1 marker, 2 .. 1 + classes values (2 + v holds value v),
// then `noise` noise ids. A sequence of seq_len tokens is noise except for:
// - classification (task "recall"): one marked token, the value 2 + v at a position p uniform in
//   [min_pos, seq_len - 1]; the label is v. The model must find the one marked token among
//   seq_len and read its value out at the pooled vector.
// - language model (task "recall-lm"): the marker and a value at p, p + 1 with p uniform in
//   [0, seq_len / 2 - 2], and the marker and the same value again as the last two tokens, so a
//   causal model that predicts the final token must recall a value at least seq_len / 2 tokens
//   back. (Its loss also counts the noise tokens, which no model can predict.)
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
  int64_t min_pos = -1;  // classification: earliest marked position; -1: seq_len / 2
  bool lm = false;       // language-model shards (no labels)
  void validate() const;  // throws naming the option
};

ShardMeta recall_meta(const RecallOptions& opt);

// Example `index` of a stream: the ids (seq_len) and, for classification, the label.
struct RecallExample {
  std::vector<int32_t> ids;
  int32_t label = 0;
  int64_t marker = 0;  // p: the marked token (classification) or the first marker (lm)
};
RecallExample make_recall_example(const RecallOptions& opt, uint64_t seed, uint64_t stream, uint64_t index);

std::vector<SplitResult> generate_recall_dataset(const std::string& out_dir, const RecallOptions& opt,
                                                 const SplitCounts& counts, const JobOptions& job);

}  // namespace st::tasks
