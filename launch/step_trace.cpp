// The step trace and its phases (step_trace.h).
#include "launch/step_trace.h"

#include <nlohmann/json.hpp>

#include "core/backend/backend.h"
#include "data/io_error.h"

namespace st {

StepTrace::StepTrace(int rank, int64_t first, int64_t count, Clock::time_point origin)
    : rank_(rank), first_(first), count_(count), origin_(origin) {}

void StepTrace::add(const char* phase, int64_t step, Clock::time_point begin, Clock::time_point end) {
  if (!covers(step)) return;
  auto us = [&](Clock::time_point t) { return std::chrono::duration<double, std::micro>(t - origin_).count(); };
  events_.push_back({phase, step, us(begin), us(end) - us(begin)});
}

std::string StepTrace::json() const {
  nlohmann::json events = nlohmann::json::array();
  events.push_back({{"name", "process_name"}, {"ph", "M"}, {"pid", rank_}, {"tid", 0},
                    {"args", {{"name", "rank " + std::to_string(rank_)}}}});
  for (const Event& e : events_)
    events.push_back({{"name", e.phase}, {"ph", "X"}, {"pid", rank_}, {"tid", 0}, {"ts", e.begin_us},
                      {"dur", e.duration_us}, {"args", {{"step", e.step}}}});
  return nlohmann::json{{"traceEvents", events}, {"displayTimeUnit", "ms"}}.dump() + "\n";
}

void StepTrace::write(const std::string& path) const { write_text_atomically(path, json()); }

StepPhase::StepPhase(const char* name, int64_t step, double* seconds, StepTrace* trace)
    : name_(name), step_(step), seconds_(seconds), trace_(trace), begin_(StepTrace::Clock::now()) {
  profiler_range_push(name);
}

void StepPhase::end() {
  if (!open_) return;
  open_ = false;
  auto now = StepTrace::Clock::now();
  profiler_range_pop();
  *seconds_ += std::chrono::duration<double>(now - begin_).count();
  if (trace_) trace_->add(name_, step_, begin_, now);
}

}  // namespace st
