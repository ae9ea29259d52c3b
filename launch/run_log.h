// Observability of a run, rank 0 only: a progress line on a terminal (plain log lines
// otherwise, also appended to RUN/train.log), metrics.jsonl (one JSON object per line) and
// TensorBoard scalar event files in RUN/tensorboard.
#pragma once
#include <cstdio>
#include <map>
#include <memory>
#include <string>

namespace st {

class TensorBoardWriter;

class RunLog {
 public:
  // active: this process writes (world rank 0); others keep quiet.
  RunLog(const std::string& run_dir, bool active);
  ~RunLog();

  // A message for the user (both terminal and train.log).
  void info(const std::string& line);
  // Metrics of one step or evaluation: written to metrics.jsonl and TensorBoard as
  // "<split>/<name>".
  void metrics(const std::string& split, int64_t step, const std::map<std::string, double>& values);
  // The progress line (terminal: rewritten in place; otherwise logged only when `log_now`).
  void progress(const std::string& line, bool log_now);
  void flush();
  bool active() const { return active_; }

 private:
  bool active_;
  bool tty_;
  bool progress_shown_ = false;
  std::FILE* log_ = nullptr;
  std::FILE* metrics_ = nullptr;
  std::unique_ptr<TensorBoardWriter> tb_;
};

}  // namespace st
