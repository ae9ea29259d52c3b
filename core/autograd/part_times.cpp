// The per-part clock of part_times.h: one thread-local state, switched at every scope boundary.
#include "core/autograd/part_times.h"

#include <chrono>

namespace st {

namespace {

using Clock = std::chrono::steady_clock;

struct PartClock {
  bool on = false;
  Pass pass = Pass::Forward;
  ModelPart part = ModelPart::Other;
  Clock::time_point since{};
  PartTimes sums;

  // Closes the running interval (when timing) and makes (p, q) current.
  void switch_to(Pass p, ModelPart q) {
    if (on) {
      Clock::time_point now = Clock::now();
      auto& row = pass == Pass::Forward ? sums.forward : sums.backward;
      row[static_cast<size_t>(part)] += std::chrono::duration<double>(now - since).count();
      since = now;
    }
    pass = p;
    part = q;
  }
};

thread_local PartClock g_clock;

}  // namespace

const char* model_part_name(ModelPart p) {
  switch (p) {
    case ModelPart::Other: return "other";
    case ModelPart::Embedding: return "embedding";
    case ModelPart::Attention: return "attention";
    case ModelPart::Ffn: return "ffn";
    case ModelPart::Head: return "head";
    case ModelPart::Count: break;
  }
  return "?";
}

void set_part_timing(bool on) {
  g_clock.switch_to(g_clock.pass, g_clock.part);  // closes the interval while still timing
  g_clock.on = on;
  g_clock.since = Clock::now();
}

PartTimes part_times() {
  g_clock.switch_to(g_clock.pass, g_clock.part);
  return g_clock.sums;
}

void reset_part_times() {
  g_clock.sums = PartTimes{};
  g_clock.since = Clock::now();
}

ModelPart current_model_part() { return g_clock.part; }

PartScope::PartScope(ModelPart part) : previous_(g_clock.part) { g_clock.switch_to(g_clock.pass, part); }
PartScope::~PartScope() { g_clock.switch_to(g_clock.pass, previous_); }

PassScope::PassScope(Pass pass, ModelPart part) : previous_pass_(g_clock.pass), previous_part_(g_clock.part) {
  g_clock.switch_to(pass, part);
}
PassScope::~PassScope() { g_clock.switch_to(previous_pass_, previous_part_); }

}  // namespace st
