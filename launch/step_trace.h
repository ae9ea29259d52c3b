// A trace of the training steps' phases (train.trace_steps): one JSON file per rank,
// RUN/trace/rank-R.json, in the Chrome Trace Event Format ("X" complete events: name, ph, ts and
// dur in microseconds since the training loop started, pid = rank, tid = 0, args.step), which
// https://ui.perfetto.dev and chrome://tracing open. Each phase is also a profiler range (NVTX on
// CUDA builds, for Nsight Systems), traced or not. Times are host times: on a GPU the device
// runs asynchronously, so forward and backward show launch time and the device's work shows in
// the phase that waits for it (sync).
#pragma once
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace st {

class StepTrace {
 public:
  using Clock = std::chrono::steady_clock;
  StepTrace() = default;
  // Steps [first, first + count) of rank `rank` (count 0: none), times from `origin`.
  StepTrace(int rank, int64_t first, int64_t count, Clock::time_point origin);
  bool covers(int64_t step) const { return count_ > 0 && step >= first_ && step < first_ + count_; }
  bool last(int64_t step) const { return count_ > 0 && step == first_ + count_ - 1; }
  void add(const char* phase, int64_t step, Clock::time_point begin, Clock::time_point end);
  // The events as a JSON document.
  std::string json() const;
  // Writes json() to `path` (a temporary file renamed into place).
  void write(const std::string& path) const;

 private:
  struct Event {
    const char* phase;
    int64_t step;
    double begin_us, duration_us;
  };
  int rank_ = 0;
  int64_t first_ = 0, count_ = 0;
  Clock::time_point origin_;
  std::vector<Event> events_;
};

// One phase of a step, from construction to end() (or destruction): its host seconds are added
// to *seconds, it is recorded in `trace` when the trace covers the step, and it is a profiler
// range.
class StepPhase {
 public:
  StepPhase(const char* name, int64_t step, double* seconds, StepTrace* trace);
  ~StepPhase() { end(); }
  StepPhase(const StepPhase&) = delete;
  StepPhase& operator=(const StepPhase&) = delete;
  void end();

 private:
  const char* name_;
  int64_t step_;
  double* seconds_;
  StepTrace* trace_;
  StepTrace::Clock::time_point begin_;
  bool open_ = true;
};

}  // namespace st
