// `st-data lm`: language-model windows from any text. The input files are read as one byte
// stream (in the order given, nothing inserted between them); window k covers bytes
// [k*stride, k*stride + seq_len), ids = byte + 1, the last window (the first that reaches the end
// of the stream) padded with 0. No labels (num_classes 0).
#pragma once
#include <string>
#include <vector>

#include "data/tasks/job.h"

namespace st::tasks {

struct LmOptions {
  int64_t seq_len = 0;
  int64_t stride = 0;  // 0: seq_len (disjoint windows)
};

// Number of windows for a stream of `bytes` bytes.
int64_t lm_window_count(int64_t bytes, int64_t seq_len, int64_t stride);

ConvertResult convert_lm(const std::vector<std::string>& inputs, const std::string& out_prefix,
                         const LmOptions& opt, const JobOptions& job);

}  // namespace st::tasks
