// I/O failure texts; see io_error.h.
#include "data/io_error.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/tensor/error.h"

namespace st {

int open_file_count() {
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) {
    // No descriptor left to read the directory with (EMFILE): ask each descriptor number below
    // the limit instead, which needs none.
    struct rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur == RLIM_INFINITY || lim.rlim_cur > (1u << 20)) return -1;
    int n = 0;
    for (int fd = 0; fd < static_cast<int>(lim.rlim_cur); ++fd)
      if (::fcntl(fd, F_GETFD) != -1) ++n;
    return n;
  }
  int n = 0;
  while (dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') ++n;
  ::closedir(d);
  return n - 1;  // the directory stream's own descriptor
}

std::string errno_message(int error) {
  std::string text = std::string(std::strerror(error)) + " (errno " + std::to_string(error) + ")";
  if (error == EMFILE) {
    struct rlimit lim{};
    std::string limit = ::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY
                            ? std::to_string(static_cast<unsigned long long>(lim.rlim_cur))
                            : "unknown";
    int held = open_file_count();
    text += ": this process has " + (held >= 0 ? std::to_string(held) : std::string("?")) +
            " files open and may have " + limit +
            " (ulimit -n); lower data.max_open_files (shard files each loader keeps open) or raise the limit";
  } else if (error == ENFILE) {
    text += ": the system-wide table of open files is full (fs.file-max); close other programs or raise it";
  }
  return text;
}

std::string open_failure(const std::string& path, bool for_write) {
  struct stat st{};
  bool existed = ::stat(path.c_str(), &st) == 0;
  int fd = for_write ? ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644)
                     : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno_message(errno);
  ::close(fd);
  if (for_write && !existed) ::unlink(path.c_str());
  return "";
}

void write_text_atomically(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) ST_THROW(tmp, ": cannot write: ", errno_message(errno));
  bool written = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  int e = errno;
  if (std::fclose(f) != 0 && written) {
    written = false;
    e = errno;
  }
  if (!written) {
    std::remove(tmp.c_str());
    ST_THROW(tmp, ": cannot write: ", errno_message(e));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    e = errno;
    std::remove(tmp.c_str());
    ST_THROW(path, ": cannot move the finished file into place: ", errno_message(e));
  }
}

}  // namespace st
