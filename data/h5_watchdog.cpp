// The read watchdog; see h5_watchdog.h. State: the start of the armed read (0: none) and its
// file's path, written by the reading thread under the HDF5 lock and read by the watchdog thread.
#include "data/h5_watchdog.h"

#include <errno.h>  // program_invocation_short_name
#include <sysexits.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

namespace st::h5 {

namespace {

std::atomic<int64_t> armed_at_ms{0};  // steady clock; 0: no read in progress
char armed_path[1024];                // the file of the armed read (published by armed_at_ms)
int depth = 0;                        // nesting of watches (only under the HDF5 lock)

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
             .count() +
         1;  // never 0
}

[[noreturn]] void watch_forever(int64_t limit_s) {
  const auto period = std::chrono::milliseconds(std::clamp<int64_t>(limit_s * 250, 100, 1000));
  char path[sizeof armed_path];
  for (;;) {
    std::this_thread::sleep_for(period);
    int64_t t0 = armed_at_ms.load(std::memory_order_acquire);
    if (t0 == 0 || now_ms() - t0 < limit_s * 1000) continue;
    std::memcpy(path, armed_path, sizeof path);
    path[sizeof path - 1] = '\0';
    if (armed_at_ms.load(std::memory_order_acquire) != t0) continue;  // that read returned meanwhile
    std::fprintf(stderr,
                 "%s: error: %s: a read has not returned after %lld s. A damaged or crafted file can make "
                 "the HDF5 library loop forever, and a stalled file system looks the same; ending the "
                 "process (ST_HDF5_READ_LIMIT sets the limit in seconds).\n",
                 program_invocation_short_name, path, static_cast<long long>(limit_s));
    std::fflush(stderr);
#ifdef ST_FUZZING
    std::abort();  // libFuzzer keeps the input of a crash, not of an exit
#else
    _exit(EX_DATAERR);  // 65, the programs' code for a data error (docs/design.md, "Exit codes")
#endif
  }
}

}  // namespace

int64_t read_limit_seconds() {
  static const int64_t limit = [] {
    constexpr long long kMax = 1000000000;  // about 32 years: "never", without overflow
    const char* env = std::getenv("ST_HDF5_READ_LIMIT");
    if (!env || !*env) return int64_t{300};
    char* end = nullptr;
    errno = 0;
    long long v = std::strtoll(env, &end, 10);
    if (*end != '\0' || v < 0 || errno == ERANGE) {
      std::fprintf(stderr, "warning: ST_HDF5_READ_LIMIT='%s' is not a number of seconds >= 0; using 300\n", env);
      return int64_t{300};
    }
    return static_cast<int64_t>(std::min(v, kMax));
  }();
  return limit;
}

ReadWatch::ReadWatch(const std::string& path) {
  if (depth > 0) {
    ++depth;
    return;
  }
  int64_t limit = read_limit_seconds();
  if (limit > 0) {
    static std::once_flag started;  // a failed start throws here and is retried by the next read
    std::call_once(started, [limit] { std::thread(watch_forever, limit).detach(); });
    std::snprintf(armed_path, sizeof armed_path, "%s", path.c_str());
    armed_at_ms.store(now_ms(), std::memory_order_release);
    outermost_ = true;
  }
  ++depth;
}

ReadWatch::~ReadWatch() {
  --depth;
  if (outermost_) armed_at_ms.store(0, std::memory_order_release);
}

}  // namespace st::h5
