// What an I/O failure means, for error messages: errno's meaning with its number, and for
// "too many open files" the process's open-file count and its limit, so the message blames the
// limit rather than the file (docs/data.md, "Many shards"). And small text files written so that
// a failure never leaves a partial one under the final name.
#pragma once
#include <string>

namespace st {

// "No such file or directory (errno 2)"; for EMFILE also "this process has N files open and may
// have M (ulimit -n) ...", for ENFILE the system-wide table.
std::string errno_message(int error);

// Why `path` cannot be opened now, from open(2) itself: errno_message of its failure, or "" when
// it opens (then the failure was in the file's contents). for_write: probe as a writer would
// (a file that did not exist is removed again).
std::string open_failure(const std::string& path, bool for_write);

// Files this process holds open (entries of /proc/self/fd); -1 where that cannot be read.
int open_file_count();

// Writes text to PATH.tmp, then renames it to PATH; throws naming the file and errno's meaning.
void write_text_atomically(const std::string& path, const std::string& text);

}  // namespace st
