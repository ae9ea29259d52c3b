// Shard series writer; see split_writer.h.
#include "data/tasks/split_writer.h"

#include <glob.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "core/tensor/error.h"
#include "data/tasks/vocab.h"

namespace st::tasks {

namespace {
constexpr int64_t kBlockExamples = 256;
}

std::string shard_path(const std::string& prefix, int64_t index) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "-%05lld.h5", static_cast<long long>(index));
  return prefix + buf;
}

std::vector<std::string> existing_shards(const std::string& prefix) {
  std::string pattern = prefix + "-[0-9][0-9][0-9][0-9][0-9].h5";
  glob_t g{};
  std::vector<std::string> out;
  if (::glob(pattern.c_str(), 0, nullptr, &g) == 0)
    for (size_t i = 0; i < g.gl_pathc; ++i) out.emplace_back(g.gl_pathv[i]);
  globfree(&g);
  std::sort(out.begin(), out.end());
  return out;
}

void check_outputs_free(const std::vector<std::string>& prefixes, bool overwrite) {
  if (overwrite) return;
  for (const auto& prefix : prefixes) {
    auto old = existing_shards(prefix);
    ST_CHECK(old.empty(), old.front(), " already exists (use --overwrite to replace the shards of ",
             prefix, "-*.h5)");
  }
}

SplitWriter::SplitWriter(std::string prefix, ShardMeta meta, int64_t shard_size, bool overwrite)
    : prefix_(std::move(prefix)), meta_(std::move(meta)), shard_size_(shard_size) {
  ST_CHECK(shard_size_ >= 1, "--shard-size must be at least 1, got ", shard_size_);
  ST_CHECK(!prefix_.empty(), "--out is empty");
  check_outputs_free({prefix_}, overwrite);
  for (const auto& f : existing_shards(prefix_)) std::filesystem::remove(f);
  std::filesystem::path parent = std::filesystem::path(prefix_).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    ST_CHECK(!ec, parent.string(), ": cannot create the output directory: ", ec.message());
  }
}

SplitWriter::~SplitWriter() {
  if (closed_) return;
  current_.reset();
  for (const auto& f : files_) std::remove(f.c_str());
}

void SplitWriter::add(const Example& e) {
  ST_CHECK(static_cast<int64_t>(e.inputs.size()) == meta_.seq_len, prefix_, ": example ", total_,
           " has ", e.inputs.size(), " ids, expected seq_len ", meta_.seq_len);
  ST_CHECK(!meta_.pair || static_cast<int64_t>(e.inputs2.size()) == meta_.seq_len, prefix_,
           ": example ", total_, " has ", e.inputs2.size(), " second-sequence ids, expected ",
           meta_.seq_len);
  add(e.inputs.data(), meta_.pair ? e.inputs2.data() : nullptr, e.label);
}

void SplitWriter::add(const int32_t* inputs, const int32_t* inputs2, int32_t label) {
  ST_CHECK(!closed_, prefix_, ": add after close");
  ST_CHECK(!meta_.pair || inputs2 != nullptr, prefix_, ": pair task without a second sequence");
  inputs_.insert(inputs_.end(), inputs, inputs + meta_.seq_len);
  if (meta_.pair) inputs2_.insert(inputs2_.end(), inputs2, inputs2 + meta_.seq_len);
  if (!meta_.is_lm()) labels_.push_back(label);
  ++total_;
  int64_t buffered = static_cast<int64_t>(inputs_.size()) / meta_.seq_len;
  if (buffered >= kBlockExamples || in_current_ + buffered >= shard_size_) flush();
}

void SplitWriter::flush() {
  int64_t buffered = static_cast<int64_t>(inputs_.size()) / meta_.seq_len;
  if (buffered == 0) return;
  if (!current_) {
    files_.push_back(shard_path(prefix_, static_cast<int64_t>(files_.size())));
    // HDF5 chunks of at most 256 rows and about 4 MiB (large images: fewer rows per chunk).
    int64_t chunk_rows = std::clamp<int64_t>((int64_t{1} << 20) / meta_.seq_len, 1, kBlockExamples);
    current_ = std::make_unique<ShardWriter>(files_.back(), meta_, std::min(chunk_rows, shard_size_));
    in_current_ = 0;
  }
  current_->append(inputs_, inputs2_, labels_);
  in_current_ += buffered;
  inputs_.clear();
  inputs2_.clear();
  labels_.clear();
  if (in_current_ >= shard_size_) {
    current_->close();
    current_.reset();
  }
}

std::vector<std::string> SplitWriter::close() {
  if (closed_) return files_;
  flush();
  if (current_) current_->close();
  current_.reset();
  closed_ = true;
  return files_;
}

std::vector<int32_t> fit_to_length(std::vector<int32_t> ids, int64_t len) {
  ids.resize(static_cast<size_t>(len), kPadId);
  return ids;
}

}  // namespace st::tasks
