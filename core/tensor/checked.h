// Sizes from files and configs multiplied and added without silent overflow: the result, or an
// error naming what was being computed.
#pragma once
#include <cstdint>

#include "core/tensor/error.h"

namespace st {

inline int64_t checked_mul(int64_t a, int64_t b, const char* what) {
  int64_t r = 0;
  ST_CHECK(!__builtin_mul_overflow(a, b, &r), what, ": ", a, " x ", b, " overflows 64 bits");
  return r;
}

inline int64_t checked_add(int64_t a, int64_t b, const char* what) {
  int64_t r = 0;
  ST_CHECK(!__builtin_add_overflow(a, b, &r), what, ": ", a, " + ", b, " overflows 64 bits");
  return r;
}

}  // namespace st
