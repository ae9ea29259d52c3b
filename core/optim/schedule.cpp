// Learning-rate schedules; see schedule.h.
#include "core/optim/schedule.h"

#include <algorithm>
#include <cmath>

#include "core/tensor/error.h"

namespace st {

ScheduleKind parse_schedule(const std::string& s) { return kScheduleKindNames.parse(s, "optimizer.schedule"); }
const char* name_of(ScheduleKind k) { return kScheduleKindNames.name(k); }

void LrSchedule::validate() const {
  ST_CHECK(lr > 0, "optimizer.lr: must be positive, got ", lr);
  ST_CHECK(warmup >= 0, "optimizer.warmup: must not be negative, got ", warmup);
  ST_CHECK(total_steps >= 1, "train.steps: must be positive, got ", total_steps);
  ST_CHECK(min_ratio >= 0 && min_ratio <= 1, "optimizer.min_lr_ratio: must be in [0, 1], got ", min_ratio);
}

double LrSchedule::at(int64_t step) const {
  double t = static_cast<double>(std::max<int64_t>(step, 1));
  double w = static_cast<double>(warmup);
  double ramp = warmup > 0 ? std::min(1.0, t / w) : 1.0;
  switch (kind) {
    case ScheduleKind::Constant: return lr * ramp;
    case ScheduleKind::InverseSqrt: return lr * ramp / std::sqrt(std::max(t, std::max(w, 1.0)));
    case ScheduleKind::Cosine:
    case ScheduleKind::Linear: {
      if (t <= w) return lr * ramp;
      double span = std::max(1.0, static_cast<double>(total_steps) - w);
      double progress = std::min(1.0, (t - w) / span);
      double shape = kind == ScheduleKind::Cosine ? 0.5 * (1.0 + std::cos(M_PI * progress)) : 1.0 - progress;
      return lr * (min_ratio + (1.0 - min_ratio) * shape);
    }
  }
  return lr;
}

}  // namespace st
