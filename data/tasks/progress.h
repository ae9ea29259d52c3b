// Progress reporting for long data jobs, on stderr. On a terminal: one updating line with a bar,
// count/total, rate and ETA. Otherwise (logs, pipes): a plain line every `interval` seconds and
// one at the end. A disabled Progress prints nothing (tests, --quiet).
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>

namespace st::tasks {

class Progress {
 public:
  explicit Progress(bool enabled = true, std::FILE* out = stderr, double interval_seconds = 10.0);
  ~Progress();

  // Begins a phase ("listops train", 96000 examples); ends the previous one if still open.
  void start(const std::string& label, int64_t total);
  void advance(int64_t n = 1);  // thread-safe
  void finish();                // prints the final count, time and rate
  bool enabled() const { return enabled_; }

 private:
  using Clock = std::chrono::steady_clock;
  void print(bool final);

  bool enabled_, tty_;
  std::FILE* out_;
  double interval_;
  std::string label_;
  int64_t total_ = 0;
  std::atomic<int64_t> done_{0};
  bool open_ = false;
  Clock::time_point begin_, last_print_;
  std::mutex mutex_;
};

// "1:02:03" / "2:03" for a duration in seconds.
std::string format_duration(double seconds);

}  // namespace st::tasks
