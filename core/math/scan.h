// Running sums (cumsum) along one axis, shared by the CPU and CUDA backends: one column of a
// contiguous (outer, r, inner) view, i.e. r elements `inner` apart, summed in index order (or
// reverse) in double and written (=) as T. Inclusive: out_i = sum_{k <= i} in_k; exclusive:
// k < i (reverse: k >= i, k > i).
#pragma once
#include <cstdint>

#include "core/math/hd.h"

namespace st {

// One element of a running sum: out is the sum before (exclusive) or after (inclusive) adding in.
template <class T>
ST_HD void running_sum_step(double& acc, const T& in, T& out, bool exclusive) {
  if (exclusive) {
    out = static_cast<T>(acc);
    acc += static_cast<double>(in);
  } else {
    acc += static_cast<double>(in);
    out = static_cast<T>(acc);
  }
}

template <class T>
ST_HD void running_sum_column(const T* in, T* out, int64_t r, int64_t inner, bool exclusive,
                              bool reverse) {
  double acc = 0;
  for (int64_t s = 0; s < r; ++s) {
    int64_t k = reverse ? r - 1 - s : s;
    running_sum_step(acc, in[k * inner], out[k * inner], exclusive);
  }
}

// `width` adjacent columns (width <= kScanTile) at once, row by row: each column's sums are those
// of running_sum_column, in the same order; on the CPU a tile of columns reads whole cache lines
// where one column would read one value per line.
constexpr int64_t kScanTile = 64;
template <class T>
ST_HD void running_sum_columns(const T* in, T* out, int64_t r, int64_t inner, int64_t width, bool exclusive,
                               bool reverse) {
  double acc[kScanTile] = {};
  for (int64_t s = 0; s < r; ++s) {
    int64_t k = reverse ? r - 1 - s : s;
    for (int64_t j = 0; j < width; ++j) running_sum_step(acc[j], in[k * inner + j], out[k * inner + j], exclusive);
  }
}

}  // namespace st
