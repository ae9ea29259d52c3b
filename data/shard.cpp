// Shard writer, validation and split opening; see shard.h.
#include "data/shard.h"

#include <glob.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/tensor/error.h"
#include "data/h5.h"
#include "data/io_error.h"
#include "data/json_limits.h"

namespace st {

std::string vocabulary_to_json(const std::vector<std::string>& vocab) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& t : vocab) j.push_back(t);
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::vector<std::string> vocabulary_from_json(const std::string& text, const std::string& origin) {
  if (text.empty()) return {};
  const std::string what = origin.empty() ? "vocabulary attribute" : origin + ": vocabulary attribute";
  check_json_depth(text, 1, what);  // a flat array of strings
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  ST_CHECK(j.is_array(), what, " is not a JSON array");
  std::vector<std::string> out;
  for (auto& e : j) out.push_back(e.is_string() ? e.get<std::string>() : e.dump());
  return out;
}

struct ShardWriter::Impl {
  std::string path, tmp;
  ShardMeta meta;
  h5::File file;
  bool closed = false;
};

ShardWriter::ShardWriter(const std::string& path, const ShardMeta& meta, int64_t chunk_examples)
    : impl_(new Impl{path, path + ".tmp", meta, {}, false}) {
  ST_CHECK(meta.vocab_size >= 1, path, ": vocab_size must be positive");
  ST_CHECK(meta.seq_len >= 1, path, ": seq_len must be positive");
  ST_CHECK(meta.num_classes >= 0, path, ": num_classes must not be negative");
  ST_CHECK(!meta.task.empty(), path, ": task name is empty");
  impl_->file = h5::File::create(impl_->tmp);
  h5::File& f = impl_->file;
  f.create_extendible_i32("inputs", meta.seq_len, chunk_examples);
  if (meta.pair) f.create_extendible_i32("inputs2", meta.seq_len, chunk_examples);
  if (!meta.is_lm()) f.create_extendible_i32("labels", 0, chunk_examples * 16);
  f.set_attribute("format", std::string(kShardFormat));
  f.set_attribute("version", int64_t(kShardVersion));
  f.set_attribute("task", meta.task);
  f.set_attribute("vocab_size", meta.vocab_size);
  f.set_attribute("num_classes", meta.num_classes);
  f.set_attribute("seq_len", meta.seq_len);
  f.set_attribute("vocabulary", vocabulary_to_json(meta.vocabulary));
}

ShardWriter::~ShardWriter() {
  if (!impl_->closed) {  // unfinished (an error, or never closed): nothing under the final name
    impl_->file.discard();
    std::remove(impl_->tmp.c_str());
  }
  delete impl_;
}

void ShardWriter::append(const std::vector<int32_t>& inputs, const std::vector<int32_t>& inputs2,
                         const std::vector<int32_t>& labels) {
  const ShardMeta& m = impl_->meta;
  ST_CHECK(inputs.size() % m.seq_len == 0, impl_->path, ": ", inputs.size(),
           " ids are not a whole number of rows of seq_len ", m.seq_len);
  int64_t n = static_cast<int64_t>(inputs.size()) / m.seq_len;
  ST_CHECK(m.pair == !inputs2.empty() && (!m.pair || inputs2.size() == inputs.size()), impl_->path,
           ": inputs2 must ", m.pair ? "match inputs (pair task)" : "be empty (not a pair task)");
  ST_CHECK(m.is_lm() ? labels.empty() : static_cast<int64_t>(labels.size()) == n, impl_->path,
           ": expected ", m.is_lm() ? 0 : n, " labels, got ", labels.size());
  auto check_ids = [&](const std::vector<int32_t>& ids, const char* what) {
    for (size_t i = 0; i < ids.size(); ++i)
      ST_CHECK(ids[i] >= 0 && ids[i] < m.vocab_size, impl_->path, ": ", what, " id ", ids[i],
               " at example ", examples_ + int64_t(i) / m.seq_len, " is outside [0, ", m.vocab_size, ")");
  };
  check_ids(inputs, "input");
  check_ids(inputs2, "input2");
  for (size_t i = 0; i < labels.size(); ++i)
    ST_CHECK(labels[i] >= 0 && labels[i] < m.num_classes, impl_->path, ": label ", labels[i],
             " at example ", examples_ + int64_t(i), " is outside [0, ", m.num_classes, ")");
  impl_->file.append_i32("inputs", inputs.data(), n);
  if (m.pair) impl_->file.append_i32("inputs2", inputs2.data(), n);
  if (!m.is_lm()) impl_->file.append_i32("labels", labels.data(), n);
  examples_ += n;
}

void ShardWriter::close() {
  if (impl_->closed) return;
  impl_->file.flush();
  impl_->file.close();
  ST_CHECK(std::rename(impl_->tmp.c_str(), impl_->path.c_str()) == 0, impl_->path,
           ": cannot move the finished shard into place: ", errno_message(errno));
  impl_->closed = true;
}

ShardInfo validate_shard(const std::string& path, ShardCheck check) {
  h5::File f = h5::File::open_read(path);
  ShardInfo info;
  info.path = path;
  for (const char* attr : {"format", "version", "task", "vocab_size", "num_classes", "seq_len"})
    ST_CHECK(f.has_attribute(attr), path, ": missing attribute '", attr,
             "' (not a simpletron shard? see the shard format in the README)");
  std::string format = f.string_attribute("format");
  ST_CHECK(format == kShardFormat, path, ": attribute format is '", format, "', expected '",
           kShardFormat, "'");
  int64_t version = f.int_attribute("version");
  ST_CHECK(version == kShardVersion, path, ": shard format version ", version,
           " is not supported (this build reads version ", kShardVersion, ")");
  ShardMeta& m = info.meta;
  m.task = f.string_attribute("task");
  m.vocab_size = f.int_attribute("vocab_size");
  m.num_classes = f.int_attribute("num_classes");
  m.seq_len = f.int_attribute("seq_len");
  ST_CHECK(m.vocab_size <= kMaxVocabSize && m.num_classes <= kMaxNumClasses && m.seq_len <= kMaxSeqLen,
           path, ": vocab_size ", m.vocab_size, ", num_classes ", m.num_classes, " or seq_len ", m.seq_len,
           " is above its limit (2^31 - 1, 2^31 - 1, 2^30: ids and labels are int32)");
  ST_CHECK(m.vocab_size >= 1 && m.seq_len >= 1 && m.num_classes >= 0, path,
           ": attributes vocab_size ", m.vocab_size, ", seq_len ", m.seq_len, ", num_classes ",
           m.num_classes, " are not valid");
  if (f.has_attribute("vocabulary")) m.vocabulary = vocabulary_from_json(f.string_attribute("vocabulary"), path);

  auto check_2d = [&](const char* name) {
    ST_CHECK(f.has(name), path, ": missing dataset /", name);
    h5::DatasetInfo d = f.info(name);
    ST_CHECK(d.type == h5::ElementType::Int32, path, ": /", name, " must hold int32, found another type");
    ST_CHECK(d.dims.size() == 2, path, ": /", name, " must have rank 2 [examples, seq_len], found rank ",
             d.dims.size());
    ST_CHECK(d.dims[1] == m.seq_len, path, ": /", name, " rows have length ", d.dims[1],
             ", attribute seq_len says ", m.seq_len);
    ST_CHECK(d.fully_stored, path, ": /", name, " claims ", d.dims[0],
             " rows but not all of them were ever written (a sparse, truncated or crafted file)");
    return d.dims[0];
  };
  info.examples = check_2d("inputs");
  m.pair = f.has("inputs2");
  if (m.pair) {
    int64_t n2 = check_2d("inputs2");
    ST_CHECK(n2 == info.examples, path, ": /inputs has ", info.examples, " examples but /inputs2 has ", n2);
  }
  if (!m.is_lm()) {
    ST_CHECK(f.has("labels"), path, ": missing dataset /labels (num_classes is ", m.num_classes, ")");
    h5::DatasetInfo d = f.info("labels");
    ST_CHECK(d.type == h5::ElementType::Int32, path, ": /labels must hold int32, found another type");
    ST_CHECK(d.fully_stored, path, ": /labels claims ", d.dims.empty() ? 0 : d.dims[0],
             " rows but not all of them were ever written (a sparse, truncated or crafted file)");
    ST_CHECK(d.dims.size() == 1, path, ": /labels must have rank 1 [examples], found rank ", d.dims.size());
    ST_CHECK(d.dims[0] == info.examples, path, ": /inputs has ", info.examples,
             " examples but /labels has ", d.dims[0]);
  }
  if (check == ShardCheck::Headers) return info;
  // Range checks, piece by piece (bounded memory for any shape).
  for (const char* name : {"inputs", "inputs2"}) {
    if (std::string(name) == "inputs2" && !m.pair) continue;
    f.for_each_i32_piece(name, info.examples, m.seq_len,
                         [&](int64_t r0, int64_t rows, int64_t, int64_t cols, const int32_t* ids) {
      for (int64_t i = 0; i < rows * cols; ++i)
        ST_CHECK(ids[i] >= 0 && ids[i] < m.vocab_size, path, ": /", name, " holds token ", ids[i],
                 " at example ", r0 + i / cols, ", outside [0, vocab_size = ", m.vocab_size, ")");
    });
  }
  if (!m.is_lm()) {
    std::vector<int32_t> labels = f.read_i32("labels");
    for (size_t i = 0; i < labels.size(); ++i)
      ST_CHECK(labels[i] >= 0 && labels[i] < m.num_classes, path, ": /labels holds ", labels[i],
               " at example ", i, ", outside [0, num_classes = ", m.num_classes, ")");
  }
  return info;
}

std::vector<std::string> split_files(const std::string& pattern) {
  glob_t g{};
  int rc = ::glob(pattern.c_str(), 0, nullptr, &g);
  std::vector<std::string> paths;
  if (rc == 0)
    for (size_t i = 0; i < g.gl_pathc; ++i) paths.push_back(g.gl_pathv[i]);
  globfree(&g);
  std::sort(paths.begin(), paths.end());
  return paths;
}

std::vector<ShardInfo> open_split(const std::string& pattern, ShardCheck check) {
  std::vector<std::string> paths = split_files(pattern);
  ST_CHECK(!paths.empty(), "data: '", pattern, "' matches no shard files");
  std::vector<ShardInfo> shards;
  for (const auto& p : paths) shards.push_back(validate_shard(p, check));
  const ShardMeta& a = shards[0].meta;
  for (const auto& s : shards) {
    const ShardMeta& b = s.meta;
    auto differ = [&](const char* what, const std::string& x, const std::string& y) {
      ST_THROW("data: shards of '", pattern, "' disagree: ", shards[0].path, " has ", what, " ", x,
               ", ", s.path, " has ", y);
    };
    if (a.task != b.task) differ("task", a.task, b.task);
    if (a.vocab_size != b.vocab_size) differ("vocab_size", std::to_string(a.vocab_size), std::to_string(b.vocab_size));
    if (a.num_classes != b.num_classes) differ("num_classes", std::to_string(a.num_classes), std::to_string(b.num_classes));
    if (a.seq_len != b.seq_len) differ("seq_len", std::to_string(a.seq_len), std::to_string(b.seq_len));
    if (a.pair != b.pair) differ("inputs2", a.pair ? "present" : "absent", b.pair ? "present" : "absent");
  }
  return shards;
}

}  // namespace st
