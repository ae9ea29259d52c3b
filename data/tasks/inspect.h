// `st-data inspect FILE|GLOB`: a readable report on a split: the schema (attributes, datasets
// and shapes), per-shard and total counts, the label histogram, sequence lengths (non-padding
// tokens: min/mean/max) and the first tokens of the first example decoded with the vocabulary.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace st::tasks {

// `patterns`: shard files or globs (a shell may already have expanded the glob); together they
// must form one consistent split.
std::string inspect_shards(const std::vector<std::string>& patterns, int64_t show_tokens = 48);

// The label histogram of shard files (reads /labels only; none for language-model shards).
std::map<int32_t, int64_t> label_histogram(const std::vector<std::string>& files);

// The first `count` non-padding tokens of a row as text: byte vocabularies are joined into a
// string, others are separated by spaces; ids without a vocabulary entry print as "#id".
std::string decode_tokens(const int32_t* ids, int64_t n, const std::vector<std::string>& vocab,
                          int64_t count);

}  // namespace st::tasks
