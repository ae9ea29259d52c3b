// Helpers for CPU kernels: dtype dispatch, and iteration over the rows (all dimensions but the
// last) of a strided layout. Private to backend/cpu.
#pragma once
#include <cstdint>

#include "core/backend/backend.h"

namespace st::cpu {

// Loops smaller than this run on one thread (OpenMP start-up costs more than the work).
constexpr int64_t kParallelGrain = 1 << 15;

template <class F>
void dispatch_float(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::F32: f(float{}); break;
    case DType::F64: f(double{}); break;
    default: ST_THROW(op, ": dtype ", t, " is not supported on cpu (f32 or f64)");
  }
}

// Offset (elements) of the first element of row `row` of a layout whose last dimension is the
// row; rows are numbered in row-major order of the leading dimensions.
inline int64_t row_offset(const StridedLayout& l, int64_t row) {
  int64_t off = 0;
  for (int d = l.ndim - 2; d >= 0; --d) {
    int64_t i = row % l.shape[d];
    row /= l.shape[d];
    off += i * l.strides[d];
  }
  return off;
}

inline int64_t last_size(const StridedLayout& l) { return l.ndim ? l.shape[l.ndim - 1] : 1; }
inline int64_t last_stride(const StridedLayout& l) { return l.ndim ? l.strides[l.ndim - 1] : 0; }
inline int64_t row_count(const StridedLayout& l) {
  int64_t n = 1;
  for (int d = 0; d + 1 < l.ndim; ++d) n *= l.shape[d];
  return n;
}

}  // namespace st::cpu
