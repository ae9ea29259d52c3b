// Running sums (cumsum) along one axis, shared by the CPU and CUDA backends: one column of a
// contiguous (outer, r, inner) view, i.e. r elements `inner` apart, summed in index order (or
// reverse) in double and written (=) as T. Inclusive: out_i = sum_{k <= i} in_k; exclusive:
// k < i (reverse: k >= i, k > i).
#pragma once
#include <cstdint>

#include "core/math/hd.h"

namespace st {

template <class T>
ST_HD void running_sum_column(const T* in, T* out, int64_t r, int64_t inner, bool exclusive,
                              bool reverse) {
  double acc = 0;
  for (int64_t s = 0; s < r; ++s) {
    int64_t k = reverse ? r - 1 - s : s;
    if (exclusive) {
      out[k * inner] = static_cast<T>(acc);
      acc += static_cast<double>(in[k * inner]);
    } else {
      acc += static_cast<double>(in[k * inner]);
      out[k * inner] = static_cast<T>(acc);
    }
  }
}

}  // namespace st
