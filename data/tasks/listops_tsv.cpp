// LRA ListOps TSV converter; see listops_tsv.h.
#include "data/tasks/listops_tsv.h"

#include "core/tensor/error.h"
#include "data/tasks/carved_split.h"
#include "data/tasks/line_reader.h"
#include "data/tasks/listops.h"
#include "data/tasks/listops_dataset.h"

namespace st::tasks {

namespace {

bool is_header(int64_t line_number, std::string_view line) {
  return line_number == 1 && trim(split_tabs(line, 2)[0]) == "Source";
}

int64_t count_rows(const std::string& input) {
  LineReader in(input);
  std::string line;
  int64_t rows = 0;
  while (in.next(line))
    if (!trim(line).empty() && !is_header(in.line_number(), line)) ++rows;
  return rows;
}

}  // namespace

ConvertResult convert_listops_tsv(const std::string& input, const std::string& out_prefix,
                                  const ListOpsTsvOptions& opt, const JobOptions& job) {
  ST_CHECK(opt.max_len >= 1, "--max-len must be at least 1, got ", opt.max_len);
  require_readable(input, "--input");
  const int64_t rows = count_rows(input);
  ST_CHECK(rows > 0, input, ": no examples (expected 'Source<TAB>Target' rows)");

  ConvertResult result;
  CarvedSplitWriter writer(out_prefix, listops_meta(opt.max_len), job);
  if (job.progress) job.progress->start("listops-tsv", rows);
  LineReader in(input);
  std::string line;
  while (in.next(line)) {
    if (trim(line).empty() || is_header(in.line_number(), line)) {
      result.skipped += trim(line).empty();
      continue;
    }
    auto fields = split_tabs(line);
    ST_CHECK(fields.size() == 2, in.where(), ": expected 2 tab-separated fields 'Source<TAB>Target', found ",
             fields.size());
    const std::string where = in.where();
    int64_t label = parse_int(fields[1], where, "label (Target)");
    ST_CHECK(label >= 0 && label <= 9, where, ": label ", label, " is not a ListOps value 0-9");
    std::vector<int32_t> ids = tokenize_listops(fields[0], where);
    ST_CHECK(!ids.empty(), where, ": empty Source expression");
    bool truncated = static_cast<int64_t>(ids.size()) > opt.max_len;
    if (!truncated && opt.verify) {
      int value = evaluate_listops(ids, where);
      ST_CHECK(value == label, where, ": label ", label, " but the expression evaluates to ", value,
               " (--no-verify keeps the file's labels)");
    }
    result.truncated += truncated;
    Example e;
    e.inputs = fit_to_length(std::move(ids), opt.max_len);
    e.label = static_cast<int32_t>(label);
    writer.add(e);
    if (job.progress) job.progress->advance(1);
  }
  writer.close(result);
  if (job.progress) job.progress->finish();
  return result;
}

}  // namespace st::tasks
