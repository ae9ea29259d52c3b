// Per-element math of the label ops (compare_scalar, argmax_hit_rows), shared by the CPU and
// CUDA backends.
#pragma once
#include <cstdint>

#include "core/math/hd.h"

namespace st {

// x == value (equal) or x != value (!equal), as 1 or 0.
ST_HD int compare_result(int32_t x, int32_t value, bool equal) { return (x == value) == equal ? 1 : 0; }

// The argmax order: candidate (v, i) beats (best_v, best_i) when it is larger, or equal with a
// lower index, so any reduction order finds the first largest element (as a left-to-right scan
// with ">" does). Rows holding NaN have no defined argmax.
template <class T>
ST_HD bool argmax_beats(T v, int64_t i, T best_v, int64_t best_i) {
  return v > best_v || (v == best_v && i < best_i);
}

}  // namespace st
