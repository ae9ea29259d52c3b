// Terminal progress bar / periodic progress lines; see progress.h.
#include "data/tasks/progress.h"

#include <unistd.h>

#include <cmath>

namespace st::tasks {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  auto s = static_cast<int64_t>(seconds + 0.5);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                  static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  else
    std::snprintf(buf, sizeof buf, "%lld:%02lld", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  return buf;
}

Progress::Progress(bool enabled, std::FILE* out, double interval_seconds)
    : enabled_(enabled && out != nullptr), tty_(out && isatty(fileno(out))), out_(out),
      interval_(interval_seconds) {}

Progress::~Progress() {
  if (open_) finish();
}

void Progress::start(const std::string& label, int64_t total) {
  if (open_) finish();
  label_ = label;
  total_ = total;
  done_ = 0;
  open_ = true;
  begin_ = last_print_ = Clock::now();
  if (enabled_ && tty_) print(false);
}

void Progress::advance(int64_t n) {
  done_ += n;
  if (!enabled_) return;
  std::unique_lock<std::mutex> lock(mutex_, std::try_to_lock);
  if (!lock.owns_lock()) return;
  double since = std::chrono::duration<double>(Clock::now() - last_print_).count();
  if (since >= (tty_ ? 0.2 : interval_)) print(false);
}

void Progress::finish() {
  if (!open_) return;
  open_ = false;
  if (!enabled_) return;
  std::lock_guard<std::mutex> lock(mutex_);
  print(true);
}

void Progress::print(bool final) {
  auto now = Clock::now();
  last_print_ = now;
  int64_t done = done_.load();
  double elapsed = std::chrono::duration<double>(now - begin_).count();
  double rate = elapsed > 0 ? done / elapsed : 0;
  double frac = total_ > 0 ? std::min(1.0, static_cast<double>(done) / total_) : 1.0;
  double eta = rate > 0 ? (total_ - done) / rate : NAN;
  char rate_text[32];
  std::snprintf(rate_text, sizeof rate_text, rate >= 100 ? "%.0f" : "%.1f", rate);
  if (tty_) {
    const int width = 24;
    int filled = static_cast<int>(frac * width);
    std::string bar(static_cast<size_t>(filled), '#');
    bar.append(static_cast<size_t>(width - filled), '.');
    std::fprintf(out_, "\r%s [%s] %lld/%lld %3.0f%% %s/s %s %s\033[K", label_.c_str(), bar.c_str(),
                 static_cast<long long>(done), static_cast<long long>(total_), 100 * frac, rate_text,
                 final ? "in" : "ETA", format_duration(final ? elapsed : eta).c_str());
    if (final) std::fputc('\n', out_);
  } else if (final) {
    std::fprintf(out_, "%s: %lld/%lld done in %s (%s/s)\n", label_.c_str(),
                 static_cast<long long>(done), static_cast<long long>(total_),
                 format_duration(elapsed).c_str(), rate_text);
  } else {
    std::fprintf(out_, "%s: %lld/%lld (%.0f%%), %s/s, ETA %s\n", label_.c_str(),
                 static_cast<long long>(done), static_cast<long long>(total_), 100 * frac, rate_text,
                 format_duration(eta).c_str());
  }
  std::fflush(out_);
}

}  // namespace st::tasks
