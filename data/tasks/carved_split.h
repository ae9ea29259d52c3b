// A converted split with a validation share carved out of it (st-data --val-fraction): example
// i of the input goes to the validation prefix when mix64 of (seed, i) falls below `fraction`
// of 2^64, else to the main prefix. The choice depends on the input order, the seed and the
// fraction only, so the same input gives the same two splits; the share is about `fraction`
// (each example is drawn alone), and an input with at least one example keeps at least one in
// each split when 0 < fraction < 1 (else the converter fails, naming the counts).
// Without a fraction it is the plain SplitWriter of the main prefix.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "data/tasks/job.h"
#include "data/tasks/split_writer.h"

namespace st::tasks {

// Where the carved validation split goes when --val-out is not given: "val" beside the main
// prefix (data/lra/text/train -> data/lra/text/val).
std::string default_val_prefix(const std::string& prefix);

// Whether example `index` goes to validation.
bool carved_to_validation(uint64_t seed, int64_t index, double fraction);

class CarvedSplitWriter {
 public:
  // job.val_fraction in [0, 1); job.val_prefix, or default_val_prefix(prefix). Fails before
  // writing anything when either prefix already has shards (unless job.overwrite).
  CarvedSplitWriter(const std::string& prefix, const ShardMeta& meta, const JobOptions& job);

  void add(const Example& e);
  void add(const int32_t* inputs, const int32_t* inputs2, int32_t label);
  // Publishes both splits; fills result's examples and files (and val_examples, val_files).
  void close(ConvertResult& result);

 private:
  SplitWriter& next_writer();

  double fraction_;
  uint64_t seed_;
  int64_t index_ = 0;
  std::unique_ptr<SplitWriter> main_, val_;
};

}  // namespace st::tasks
