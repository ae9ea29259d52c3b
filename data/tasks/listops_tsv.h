// `st-data listops-tsv`: converts the official LRA ListOps release files (basic_train.tsv, ...:
// a "Source<TAB>Target" header, then rows like "( ( [MAX 2 ) 9 ] )<TAB>9") to a shard series
// with the generator's vocabulary; parentheses are dropped, "]" is kept.
#pragma once
#include <string>

#include "data/tasks/job.h"

namespace st::tasks {

struct ListOpsTsvOptions {
  int64_t max_len = 2000;  // seq_len; longer rows are truncated (as LRA's pipeline does)
  bool verify = true;      // check each untruncated row's label against its evaluation
};

ConvertResult convert_listops_tsv(const std::string& input, const std::string& out_prefix,
                                  const ListOpsTsvOptions& opt, const JobOptions& job);

}  // namespace st::tasks
