// Learning-rate schedules: linear warmup over `warmup` steps, then constant, cosine or linear
// decay to min_ratio * lr at total_steps; or the inverse-sqrt schedule of the SimpleTRON
// authors, lr * min(1, t / w) / sqrt(max(t, w)). Steps t count from 1.
#pragma once
#include <cstdint>
#include <string>

#include "core/tensor/enum_names.h"

namespace st {

enum class ScheduleKind : uint8_t { Constant, Cosine, Linear, InverseSqrt };
inline constexpr EnumNames<ScheduleKind, 4> kScheduleKindNames{{{{"constant", ScheduleKind::Constant},
                                                                 {"cosine", ScheduleKind::Cosine},
                                                                 {"linear", ScheduleKind::Linear},
                                                                 {"inverse_sqrt", ScheduleKind::InverseSqrt}}}};
ScheduleKind parse_schedule(const std::string& s);  // throws naming optimizer.schedule
const char* name_of(ScheduleKind k);

struct LrSchedule {
  ScheduleKind kind = ScheduleKind::Constant;
  double lr = 1e-3;
  int64_t warmup = 0;
  int64_t total_steps = 1;
  double min_ratio = 0.0;  // cosine / linear: final lr as a fraction of lr

  void validate() const;
  double at(int64_t step) const;
};

}  // namespace st
