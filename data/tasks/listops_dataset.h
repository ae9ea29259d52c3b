// `st-data listops`: the generated ListOps dataset, DIR/{train,val,test}-NNNNN.h5, as in LRA
// (96k/2k/2k sequences of 500-2000 tokens by default). Sequences are distinct across all three
// splits (LRA draws a set), padded with 0 to seq_len = max_len; label = the value.
#pragma once
#include <string>
#include <vector>

#include "data/shard.h"
#include "data/tasks/job.h"
#include "data/tasks/listops.h"

namespace st::tasks {

ShardMeta listops_meta(int64_t seq_len);

std::vector<SplitResult> generate_listops_dataset(const std::string& out_dir,
                                                  const ListOpsOptions& opt,
                                                  const SplitCounts& counts, const JobOptions& job);

}  // namespace st::tasks
