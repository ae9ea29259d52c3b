// Data shards, format version 1 (docs/design.md, "Data"). One HDF5 file per shard:
//   /inputs   int32 [examples, seq_len]   token ids, 0 = padding
//   /inputs2  int32 [examples, seq_len]   second sequence of pair tasks (retrieval)
//   /labels   int32 [examples]            class ids (absent for language-model shards)
//   root attributes: format = "simpletron-shard", version = 1, task (string), vocab_size,
//   num_classes (0 for lm), seq_len (integers), vocabulary (JSON array of strings: the
//   meaning of each id, index = id; may be empty).
// Datasets are chunked along examples and compressed. A split is a set of shards (a glob)
// whose attributes agree.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace st {

constexpr int kShardVersion = 1;
constexpr const char* kShardFormat = "simpletron-shard";
// Limits of the format (ids and labels are int32).
constexpr int64_t kMaxVocabSize = (int64_t{1} << 31) - 1;
constexpr int64_t kMaxNumClasses = (int64_t{1} << 31) - 1;
constexpr int64_t kMaxSeqLen = int64_t{1} << 30;

struct ShardMeta {
  std::string task;       // "listops", "pathfinder", "text", "retrieval", "image", "lm", ...
  int64_t vocab_size = 0;
  int64_t num_classes = 0;  // 0 for language-model shards (no /labels)
  int64_t seq_len = 0;
  bool pair = false;        // /inputs2 present
  std::vector<std::string> vocabulary;  // optional: id -> token text

  bool is_lm() const { return num_classes == 0; }
};

// Writes one shard. Examples are appended in batches; close() publishes the file by renaming a
// temporary file, so a crash never leaves a half-written shard under the final name.
class ShardWriter {
 public:
  ShardWriter(const std::string& path, const ShardMeta& meta, int64_t chunk_examples = 256);
  ~ShardWriter();  // an unclosed writer removes its temporary file
  ShardWriter(const ShardWriter&) = delete;
  ShardWriter& operator=(const ShardWriter&) = delete;

  // inputs: n * seq_len ids; inputs2: the same for pair tasks (else empty); labels: n (else
  // empty for lm). Ids and labels are range-checked.
  void append(const std::vector<int32_t>& inputs, const std::vector<int32_t>& inputs2,
              const std::vector<int32_t>& labels);
  int64_t examples() const { return examples_; }
  void close();

 private:
  struct Impl;
  Impl* impl_;
  int64_t examples_ = 0;
};

struct ShardInfo {
  std::string path;
  ShardMeta meta;
  int64_t examples = 0;
};

// Opens and validates one shard: format and version, datasets present with int32 elements and
// the right ranks, equal example counts, tokens in [0, vocab_size), labels in [0, num_classes).
// Errors name the file and the problem.
// ShardCheck::Headers checks all of that but the token and label values (no data is read): what
// a suite's pre-flight needs, before each task's own full check.
enum class ShardCheck { Full, Headers };
ShardInfo validate_shard(const std::string& path, ShardCheck check = ShardCheck::Full);

// The files a glob matches, sorted (none: empty); nothing is opened.
std::vector<std::string> split_files(const std::string& glob);
// Expands a glob (sorted), validates every shard and checks that their attributes agree.
// A glob that matches nothing is an error naming it.
std::vector<ShardInfo> open_split(const std::string& glob, ShardCheck check = ShardCheck::Full);

// JSON encoding of the vocabulary attribute. Errors start with `origin` (the shard's path).
std::string vocabulary_to_json(const std::vector<std::string>& vocab);
std::vector<std::string> vocabulary_from_json(const std::string& json, const std::string& origin = "");

}  // namespace st
