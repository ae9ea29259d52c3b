// Byte-level TSV converters (LRA "text" and "retrieval"): every byte b of a document becomes id
// b + 1 (0 = padding), documents are truncated or padded to max_len (LRA: 4000).
//   text:      label<TAB>text                          (tabs inside text are kept)
//   retrieval: label<TAB>id1<TAB>id2<TAB>text1<TAB>text2 (AAN-style pairs; a pair shard)
// Labels are integers >= 0 ("1.0" reads as 1); num_classes is --classes, or the largest label + 1.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "data/tasks/job.h"

namespace st::tasks {

struct ByteTsvOptions {
  int64_t max_len = 4000;
  int64_t classes = 0;       // 0: largest label + 1
  bool skip_header = false;  // first line is a header
};

// The shard attributes of byte-level documents (the byte vocabulary).
ShardMeta byte_meta(const std::string& task, int64_t num_classes, int64_t seq_len, bool pair);

// Byte ids of a document, cut to max_len ids and padded to it.
std::vector<int32_t> bytes_to_ids(std::string_view text, int64_t max_len, bool* truncated = nullptr);

ConvertResult convert_text_tsv(const std::string& input, const std::string& out_prefix,
                               const ByteTsvOptions& opt, const JobOptions& job);
ConvertResult convert_retrieval_tsv(const std::string& input, const std::string& out_prefix,
                                    const ByteTsvOptions& opt, const JobOptions& job);

}  // namespace st::tasks
