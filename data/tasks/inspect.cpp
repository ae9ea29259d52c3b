// Split inspection report; see inspect.h.
#include "data/tasks/inspect.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <sstream>

#include "core/tensor/error.h"
#include "data/h5.h"
#include "data/shard.h"
#include "data/tasks/vocab.h"

namespace st::tasks {

namespace {

// Label spaces up to this size are listed class by class; larger ones are summarised.
constexpr int64_t kListedClasses = 64;

const char* type_name(h5::ElementType t) {
  switch (t) {
    case h5::ElementType::Int32: return "int32";
    case h5::ElementType::Int64: return "int64";
    case h5::ElementType::Float32: return "float32";
    case h5::ElementType::Float64: return "float64";
    default: return "other";
  }
}

struct LengthStats {
  int64_t min = INT64_MAX, max = 0, rows = 0, full = 0;
  double sum = 0;
  void add(int64_t len, int64_t seq_len) {
    min = std::min(min, len);
    max = std::max(max, len);
    sum += static_cast<double>(len);
    full += len == seq_len;
    ++rows;
  }
  std::string text(int64_t seq_len) const {
    if (rows == 0) return "no examples";
    char buf[200];
    std::snprintf(buf, sizeof buf, "min %lld, mean %.1f, max %lld (seq_len %lld; %lld rows fill it)",
                  static_cast<long long>(min), sum / static_cast<double>(rows),
                  static_cast<long long>(max), static_cast<long long>(seq_len),
                  static_cast<long long>(full));
    return buf;
  }
};

}  // namespace

std::string decode_tokens(const int32_t* ids, int64_t n, const std::vector<std::string>& vocab,
                          int64_t count) {
  bool bytes = is_byte_vocabulary(vocab);
  std::string out;
  int64_t shown = 0;
  for (int64_t i = 0; i < n && shown < count; ++i) {
    if (ids[i] == 0) continue;
    std::string tok = "#";
    if (ids[i] > 0 && ids[i] < static_cast<int32_t>(vocab.size())) tok = vocab[static_cast<size_t>(ids[i])];
    else tok += std::to_string(ids[i]);
    if (!bytes && !out.empty()) out += ' ';
    out += tok;
    ++shown;
  }
  return out;
}

std::map<int32_t, int64_t> label_histogram(const std::vector<std::string>& files) {
  std::map<int32_t, int64_t> histogram;
  std::vector<int32_t> labels;
  for (const std::string& path : files) {
    h5::File f = h5::File::open_read(path);
    if (!f.has("labels")) continue;
    const int64_t examples = f.info("labels").dims.at(0);
    for (int64_t r0 = 0; r0 < examples; r0 += (1 << 22)) {  // in blocks: a shard may hold more labels than memory
      int64_t rows = std::min<int64_t>(1 << 22, examples - r0);
      labels.resize(static_cast<size_t>(rows));
      f.read_i32_rows("labels", r0, rows, labels.data());
      for (int32_t l : labels) ++histogram[l];
    }
  }
  return histogram;
}

std::string inspect_shards(const std::vector<std::string>& patterns, int64_t show_tokens) {
  ST_CHECK(!patterns.empty(), "inspect: no shard file or glob given");
  std::vector<ShardInfo> shards;
  for (const auto& p : patterns)
    for (auto& s : open_split(p))
      if (std::none_of(shards.begin(), shards.end(), [&](const ShardInfo& o) { return o.path == s.path; }))
        shards.push_back(std::move(s));
  std::sort(shards.begin(), shards.end(),
            [](const ShardInfo& a, const ShardInfo& b) { return a.path < b.path; });
  const ShardMeta& m = shards[0].meta;
  for (const auto& s : shards) {
    const ShardMeta& o = s.meta;
    ST_CHECK(o.task == m.task && o.vocab_size == m.vocab_size && o.num_classes == m.num_classes &&
                 o.seq_len == m.seq_len && o.pair == m.pair,
             "inspect: ", s.path, " (task ", o.task, ", seq_len ", o.seq_len, ") and ", shards[0].path,
             " (task ", m.task, ", seq_len ", m.seq_len, ") do not belong to one split");
  }
  std::ostringstream os;
  os << shards.size() << " shard(s)";
  if (patterns.size() == 1) os << " matching '" << patterns[0] << "'";
  os << "\n";

  h5::File first = h5::File::open_read(shards[0].path);
  os << "schema (" << shards[0].path << "):\n  attributes: format="
     << first.string_attribute("format") << " version=" << first.int_attribute("version")
     << " task=" << m.task << " vocab_size=" << m.vocab_size << " num_classes=" << m.num_classes
     << " seq_len=" << m.seq_len << " vocabulary=";
  if (m.vocabulary.empty()) os << "(none)";
  else {
    os << "[" << m.vocabulary.size() << " tokens:";
    for (size_t i = 0; i < std::min<size_t>(6, m.vocabulary.size()); ++i) os << " \"" << m.vocabulary[i] << "\"";
    os << (m.vocabulary.size() > 6 ? " ...]" : "]");
  }
  os << "\n";
  for (const char* name : {"inputs", "inputs2", "labels"})
    if (first.has(name)) {
      h5::DatasetInfo d = first.info(name);
      os << "  /" << name << "  " << type_name(d.type) << " " << d.dims << "\n";
    }

  os << "shards:\n";
  int64_t total = 0;
  for (const auto& s : shards) {
    os << "  " << s.path << "  " << s.examples << " examples\n";
    total += s.examples;
  }
  os << "examples: " << total << "\n";

  std::map<int32_t, int64_t> histogram;
  if (!m.is_lm()) {
    std::vector<std::string> files;
    for (const auto& s : shards) files.push_back(s.path);
    histogram = label_histogram(files);
  }
  LengthStats lengths, lengths2;
  // The first example: its first show_tokens non-padding tokens and how many it has.
  struct FirstRow {
    std::vector<int32_t> tokens;
    int64_t nonpad = -1;
  } first_row, first_row2;
  int32_t first_label = -1;
  for (const auto& s : shards) {
    h5::File f = h5::File::open_read(s.path);
    if (!m.is_lm() && first_label < 0 && s.examples > 0) f.read_i32_rows("labels", 0, 1, &first_label);
    for (const char* name : {"inputs", "inputs2"}) {
      bool second = std::string(name) == "inputs2";
      if (second && !m.pair) continue;
      LengthStats& stats = second ? lengths2 : lengths;
      FirstRow& first = second ? first_row2 : first_row;
      int64_t row_nonpad = 0;  // of a row read in column pieces (rows longer than a piece)
      f.for_each_i32_piece(name, s.examples, m.seq_len,
                           [&](int64_t r0, int64_t rows, int64_t c0, int64_t cols, const int32_t* ids) {
        for (int64_t r = 0; r < rows; ++r) {
          const int32_t* row = ids + r * cols;
          if (first.nonpad < 0)
            for (int64_t c = 0; c < cols && static_cast<int64_t>(first.tokens.size()) < show_tokens; ++c)
              if (row[c] != 0) first.tokens.push_back(row[c]);
          if (c0 == 0) row_nonpad = 0;
          row_nonpad += std::count_if(row, row + cols, [](int32_t id) { return id != 0; });
          if (c0 + cols < m.seq_len) continue;  // more pieces of this row follow
          if (first.nonpad < 0) first.nonpad = row_nonpad;
          stats.add(row_nonpad, m.seq_len);
        }
      });
    }
  }
  if (!m.is_lm()) {
    auto entry = [&](int64_t c, int64_t k) {
      char buf2[64];
      std::snprintf(buf2, sizeof buf2, " %lld: %lld (%.1f%%)", static_cast<long long>(c), static_cast<long long>(k),
                    total ? 100.0 * k / total : 0.0);
      return std::string(buf2);
    };
    os << "labels (" << m.num_classes << " classes):";
    if (m.num_classes <= kListedClasses) {
      for (int64_t c = 0; c < m.num_classes; ++c) {
        auto it = histogram.find(static_cast<int32_t>(c));
        os << entry(c, it == histogram.end() ? 0 : it->second) << (c + 1 < m.num_classes ? "," : "");
      }
    } else {  // summarised: the classes present (never one line per class of a huge label space)
      std::vector<std::pair<int64_t, int32_t>> by_count;
      for (const auto& [c, k] : histogram) by_count.push_back({-k, c});
      std::sort(by_count.begin(), by_count.end());
      os << " " << histogram.size() << " present, " << (m.num_classes - static_cast<int64_t>(histogram.size()))
         << " absent; most frequent:";
      for (size_t i = 0; i < by_count.size() && i < 10; ++i)
        os << entry(by_count[i].second, -by_count[i].first) << (i + 1 < std::min<size_t>(by_count.size(), 10) ? "," : "");
    }
    os << "\n";
  }
  os << "length (non-padding tokens): " << lengths.text(m.seq_len) << "\n";
  if (m.pair) os << "length of inputs2: " << lengths2.text(m.seq_len) << "\n";
  auto show = [&](const char* what, const FirstRow& row) {
    if (row.nonpad < 0) return;
    os << what << " (first " << std::min(show_tokens, row.nonpad) << " of " << row.nonpad << " tokens): "
       << decode_tokens(row.tokens.data(), static_cast<int64_t>(row.tokens.size()), m.vocabulary, show_tokens)
       << "\n";
  };
  if (first_label >= 0) os << "first example: label " << first_label << "\n";
  show("  inputs", first_row);
  if (m.pair) show("  inputs2", first_row2);
  return os.str();
}

}  // namespace st::tasks
