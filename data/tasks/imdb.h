// The IMDb review tree as the official download unpacks it (aclImdb/{train,test}/{neg,pos}/*.txt,
// one review per file named ID_RATING.txt; unsup/ and the other files are not used) to LRA's
// byte-level "text" task: label 0 for neg, 1 for pos (as LRA's pipeline reads IMDb), every byte
// b of a review as id b + 1, cut or padded to max_len (byte_tsv.h). Examples go in the order
// neg then pos, each sorted by file name, so the shards depend on the files alone.
#pragma once
#include <string>
#include <vector>

#include "data/tasks/job.h"

namespace st::tasks {

struct ImdbFile {
  std::string path;
  int32_t label = 0;
};

// The reviews of one split folder (e.g. aclImdb/train), in conversion order. Fails naming the
// folder when neg/ or pos/ is missing or either holds no .txt file.
std::vector<ImdbFile> list_imdb_split(const std::string& split_dir);

// Writes the reviews of split_dir to out_prefix (job.val_fraction carves a validation split).
ConvertResult convert_imdb_split(const std::string& split_dir, const std::string& out_prefix, int64_t max_len,
                                 const JobOptions& job);

}  // namespace st::tasks
