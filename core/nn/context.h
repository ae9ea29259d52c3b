// RunContext: what a forward pass needs besides its inputs — the dropout random stream
// (seed, step) and, for sequence parallelism, where this rank's tokens sit in the sequence.
#pragma once
#include <cstdint>

namespace st {

struct RunContext {
  uint64_t seed = 0;   // run seed; dropout streams are (seed, step, site id)
  uint32_t step = 0;   // optimizer step (or micro-step), so masks change every step
  // This process holds sequence positions [seq_offset, seq_offset + local length) of a
  // sequence of seq_global positions (-1: the whole sequence is local).
  int64_t seq_offset = 0;
  int64_t seq_global = -1;
};

}  // namespace st
