// Where a step's time goes, by part of the model (embeddings, attention, FFN, head and loss):
// a thread-local clock for benchmarks (st-bench --parts). The model marks its parts with
// PartScope; every autograd node records the part it was made in (Node::part), and the engine
// runs each node's backward under that part. While timing is on, every change of (pass, part)
// closes an interval and adds (+=) it to that pass and part, so the times are exclusive (a scope
// inside another pauses it) and a recompute inside backward counts as backward. Time outside any
// scope counts as Other. Host time: on a CUDA device it measures launches, not kernels.
#pragma once
#include <array>
#include <cstdint>

namespace st {

enum class ModelPart : uint8_t { Other, Embedding, Attention, Ffn, Head, Count };
inline constexpr int kModelParts = static_cast<int>(ModelPart::Count);
const char* model_part_name(ModelPart p);  // "other", "embedding", "attention", "ffn", "head"

enum class Pass : uint8_t { Forward, Backward };

struct PartTimes {
  std::array<double, kModelParts> forward{}, backward{};  // seconds
};

// Timing on or off for this thread (off: the scopes only track the current part). Turning it on
// starts the clock; part_times() reads the sums so far, reset_part_times() zeroes them.
void set_part_timing(bool on);
PartTimes part_times();
void reset_part_times();

ModelPart current_model_part();

// Sets the current part in its scope (the pass stays), restoring the previous one after.
class PartScope {
 public:
  explicit PartScope(ModelPart part);
  ~PartScope();
  PartScope(const PartScope&) = delete;
  PartScope& operator=(const PartScope&) = delete;

 private:
  ModelPart previous_;
};

// Sets pass and part in its scope (the autograd engine: Backward and each node's part).
class PassScope {
 public:
  PassScope(Pass pass, ModelPart part);
  ~PassScope();
  PassScope(const PassScope&) = delete;
  PassScope& operator=(const PassScope&) = delete;

 private:
  Pass previous_pass_;
  ModelPart previous_part_;
};

}  // namespace st
