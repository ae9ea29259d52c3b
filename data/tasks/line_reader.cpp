// Line reader and TSV field helpers; see line_reader.h.
#include "data/tasks/line_reader.h"

#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>

#include "core/tensor/error.h"
#include "data/io_error.h"

namespace st::tasks {

void require_readable(const std::string& path, const char* option) {
  std::error_code ec;
  ST_CHECK(std::filesystem::exists(path, ec), option, ": input file '", path, "' does not exist");
  ST_CHECK(!std::filesystem::is_directory(path, ec), option, ": '", path,
           "' is a directory, expected a file");
  std::ifstream probe(path, std::ios::binary);
  ST_CHECK(probe.good(), option, ": cannot open '", path, "': ", errno_message(errno));
}

LineReader::LineReader(const std::string& path) : path_(path), in_(path, std::ios::binary) {
  ST_CHECK(in_.good(), path, ": cannot open: ", errno_message(errno));
}

bool LineReader::next(std::string& line) {
  if (!std::getline(in_, line)) {
    ST_CHECK(in_.eof(), path_, ": read error after line ", line_);
    return false;
  }
  ++line_;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return true;
}

std::vector<std::string_view> split_tabs(std::string_view line, int max_fields) {
  std::vector<std::string_view> out;
  size_t begin = 0;
  while (true) {
    if (max_fields > 0 && static_cast<int>(out.size()) == max_fields - 1) {
      out.push_back(line.substr(begin));
      break;
    }
    size_t tab = line.find('\t', begin);
    if (tab == std::string_view::npos) {
      out.push_back(line.substr(begin));
      break;
    }
    out.push_back(line.substr(begin, tab - begin));
    begin = tab + 1;
  }
  return out;
}

std::string_view trim(std::string_view s) {
  const char* blanks = " \t\r\n\f\v";
  size_t b = s.find_first_not_of(blanks);
  if (b == std::string_view::npos) return {};
  size_t e = s.find_last_not_of(blanks);
  return s.substr(b, e - b + 1);
}

int64_t parse_int(std::string_view text, const std::string& where, const char* what) {
  std::string_view t = trim(text);
  int64_t value = 0;
  auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), value);
  ST_CHECK(!t.empty() && ec == std::errc() && end == t.data() + t.size(), where, ": ", what, " '",
           std::string(text.substr(0, 40)), "' is not an integer");
  return value;
}

}  // namespace st::tasks
