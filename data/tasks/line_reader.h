// Line-by-line reading of text inputs (TSV files) with the file name and line number at hand
// for error messages ("train.tsv:17: label 'x' is not an integer"), and the small parsing
// helpers the converters share.
#pragma once
#include <cstdint>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

namespace st::tasks {

class LineReader {
 public:
  explicit LineReader(const std::string& path);  // error naming the path when it cannot open
  // Next line without its "\n" / "\r\n"; false at the end of the file.
  bool next(std::string& line);
  int64_t line_number() const { return line_; }
  const std::string& path() const { return path_; }
  std::string where() const { return path_ + ":" + std::to_string(line_); }

 private:
  std::string path_;
  std::ifstream in_;
  int64_t line_ = 0;
};

// Splits at tabs into at most max_fields fields (the last keeps any further tabs); max_fields
// <= 0: no limit.
std::vector<std::string_view> split_tabs(std::string_view line, int max_fields = 0);
std::string_view trim(std::string_view s);
// A base-10 integer (surrounding blanks allowed); errors name `where` and `what`.
int64_t parse_int(std::string_view text, const std::string& where, const char* what);
// Checks that the file exists and is readable; the error names the option and the path.
void require_readable(const std::string& path, const char* option);

}  // namespace st::tasks
