// Byte-level text classification / retrieval TSV converters; see byte_tsv.h.
#include "data/tasks/byte_tsv.h"

#include <algorithm>
#include <functional>

#include "core/tensor/error.h"
#include "data/tasks/carved_split.h"
#include "data/tasks/line_reader.h"
#include "data/tasks/vocab.h"

namespace st::tasks {

namespace {

struct RowFormat {
  const char* task;
  int fields;        // exact field count (text: 2, the text keeps further tabs)
  bool tabs_in_last; // split at the first fields-1 tabs only
  const char* layout;
};

constexpr RowFormat kTextRows{"text", 2, true, "label<TAB>text"};
constexpr RowFormat kRetrievalRows{"retrieval", 5, false, "label<TAB>id1<TAB>id2<TAB>text1<TAB>text2"};

std::vector<std::string_view> split_row(const RowFormat& fmt, std::string_view line,
                                        const std::string& where) {
  auto fields = split_tabs(line, fmt.tabs_in_last ? fmt.fields : 0);
  ST_CHECK(static_cast<int>(fields.size()) == fmt.fields, where, ": expected ", fmt.fields,
           " tab-separated fields '", fmt.layout, "', found ", fields.size());
  return fields;
}

// An integer label, also when written as a decimal with a zero fraction ("1.0"), as some
// releases of the AAN pairs hold it.
int64_t parse_label(std::string_view text, const std::string& where) {
  std::string_view t = trim(text);
  size_t dot = t.find('.');
  if (dot != std::string_view::npos && dot > 0 && t.find_first_not_of('0', dot + 1) == std::string_view::npos)
    t = t.substr(0, dot);
  return parse_int(t, where, "label");
}

// Visits the data rows (blank lines and an optional header skipped) with their parsed label.
int64_t for_each_row(const std::string& input, const RowFormat& fmt, const ByteTsvOptions& opt,
                     int64_t* blank_lines,
                     const std::function<void(const std::vector<std::string_view>&, int64_t label,
                                              const std::string& where)>& visit) {
  LineReader in(input);
  std::string line;
  int64_t rows = 0;
  while (in.next(line)) {
    if (opt.skip_header && in.line_number() == 1) continue;
    if (trim(line).empty()) {
      if (blank_lines) ++*blank_lines;
      continue;
    }
    std::string where = in.where();
    auto fields = split_row(fmt, line, where);
    int64_t label = parse_label(fields[0], where);
    ST_CHECK(label >= 0, where, ": label ", label, " is negative");
    ST_CHECK(label < kMaxNumClasses, where, ": label ", label, " is above the largest a shard holds (",
             kMaxNumClasses - 1, "; labels are int32)");
    ST_CHECK(opt.classes <= 0 || label < opt.classes, where, ": label ", label,
             " is outside [0, --classes = ", opt.classes, ")");
    visit(fields, label, where);
    ++rows;
  }
  return rows;
}

ConvertResult convert(const std::string& input, const std::string& out_prefix,
                      const RowFormat& fmt, const ByteTsvOptions& opt, const JobOptions& job) {
  ST_CHECK(opt.max_len >= 1, "--max-len must be at least 1, got ", opt.max_len);
  ST_CHECK(opt.classes >= 0, "--classes must not be negative, got ", opt.classes);
  require_readable(input, "--input");
  // Pass 1: validate every row and find the classes before writing anything.
  int64_t max_label = -1;
  int64_t rows = for_each_row(input, fmt, opt, nullptr,
                              [&](const auto&, int64_t label, const std::string&) {
                                max_label = std::max(max_label, label);
                              });
  ST_CHECK(rows > 0, input, ": no examples (expected '", fmt.layout, "' lines)");

  ShardMeta meta = byte_meta(fmt.task, opt.classes > 0 ? opt.classes : max_label + 1, opt.max_len, fmt.fields == 5);

  ConvertResult result;
  CarvedSplitWriter writer(out_prefix, meta, job);
  if (job.progress) job.progress->start(fmt.task, rows);
  for_each_row(input, fmt, opt, &result.skipped,
               [&](const std::vector<std::string_view>& f, int64_t label, const std::string&) {
                 bool cut1 = false, cut2 = false;
                 Example e;
                 e.label = static_cast<int32_t>(label);
                 if (meta.pair) {
                   e.inputs = bytes_to_ids(f[3], opt.max_len, &cut1);
                   e.inputs2 = bytes_to_ids(f[4], opt.max_len, &cut2);
                 } else {
                   e.inputs = bytes_to_ids(f[1], opt.max_len, &cut1);
                 }
                 result.truncated += cut1 || cut2;
                 writer.add(e);
                 if (job.progress) job.progress->advance(1);
               });
  writer.close(result);
  if (job.progress) job.progress->finish();
  return result;
}

}  // namespace

ShardMeta byte_meta(const std::string& task, int64_t num_classes, int64_t seq_len, bool pair) {
  ShardMeta meta;
  meta.task = task;
  meta.vocab_size = kByteVocabSize;
  meta.num_classes = num_classes;
  meta.seq_len = seq_len;
  meta.pair = pair;
  meta.vocabulary = byte_vocabulary();
  return meta;
}

std::vector<int32_t> bytes_to_ids(std::string_view text, int64_t max_len, bool* truncated) {
  std::vector<int32_t> ids(static_cast<size_t>(max_len), kPadId);
  size_t n = std::min(text.size(), static_cast<size_t>(max_len));
  for (size_t i = 0; i < n; ++i) ids[i] = byte_id(static_cast<unsigned char>(text[i]));
  if (truncated) *truncated = text.size() > static_cast<size_t>(max_len);
  return ids;
}

ConvertResult convert_text_tsv(const std::string& input, const std::string& out_prefix,
                               const ByteTsvOptions& opt, const JobOptions& job) {
  return convert(input, out_prefix, kTextRows, opt, job);
}

ConvertResult convert_retrieval_tsv(const std::string& input, const std::string& out_prefix,
                                    const ByteTsvOptions& opt, const JobOptions& job) {
  return convert(input, out_prefix, kRetrievalRows, opt, job);
}

}  // namespace st::tasks
