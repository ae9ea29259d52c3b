// RunLog; see run_log.h.
#include "launch/run_log.h"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <nlohmann/json.hpp>

#include "core/tensor/error.h"
#include "data/io_error.h"
#include "launch/tensorboard_writer.h"

namespace st {

namespace {
// The progress line needs a terminal. ST_PROGRESS=plain forces log lines (mpirun gives ranks a
// pty even when its own output goes to a file), ST_PROGRESS=line forces the progress line.
bool progress_line_wanted() {
  const char* mode = std::getenv("ST_PROGRESS");
  if (mode && std::string(mode) == "plain") return false;
  if (mode && std::string(mode) == "line") return true;
  return isatty(fileno(stdout)) != 0;
}
}  // namespace

RunLog::RunLog(const std::string& run_dir, bool active) : active_(active), tty_(progress_line_wanted()) {
  if (!active_) return;
  log_ = std::fopen((run_dir + "/train.log").c_str(), "a");
  ST_CHECK(log_, run_dir, "/train.log: cannot write: ", errno_message(errno));
  metrics_ = std::fopen((run_dir + "/metrics.jsonl").c_str(), "a");
  ST_CHECK(metrics_, run_dir, "/metrics.jsonl: cannot write: ", errno_message(errno));
  tb_ = std::make_unique<TensorBoardWriter>(run_dir + "/tensorboard");
}

RunLog::~RunLog() {
  flush();
  if (log_) std::fclose(log_);
  if (metrics_) std::fclose(metrics_);
}

void RunLog::info(const std::string& line) {
  if (!active_) return;
  if (tty_ && progress_shown_) {
    std::printf("\r\033[K");
    progress_shown_ = false;
  }
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
  std::time_t now = std::time(nullptr);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", std::localtime(&now));
  std::fprintf(log_, "%s %s\n", stamp, line.c_str());
  std::fflush(log_);
}

void RunLog::metrics(const std::string& split, int64_t step, const std::map<std::string, double>& values) {
  if (!active_) return;
  nlohmann::json j;
  j["step"] = step;
  j["split"] = split;
  for (auto& [k, v] : values) {
    j[k] = v;
    tb_->scalar(split + "/" + k, v, step);
  }
  std::fprintf(metrics_, "%s\n", j.dump().c_str());
  std::fflush(metrics_);
}

void RunLog::progress(const std::string& line, bool log_now) {
  if (!active_) return;
  if (tty_) {
    std::printf("\r\033[K%s", line.c_str());
    std::fflush(stdout);
    progress_shown_ = true;
    if (log_now) std::fprintf(log_, "%s\n", line.c_str());
  } else if (log_now) {
    info(line);
  }
}

void RunLog::flush() {
  if (!active_) return;
  if (tb_) tb_->flush();
  if (metrics_) std::fflush(metrics_);
  if (log_) std::fflush(log_);
}

}  // namespace st
