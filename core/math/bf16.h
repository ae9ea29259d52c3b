// bfloat16 storage type: the upper 16 bits of an IEEE float. Conversion to bf16 rounds to
// nearest even (NaN stays NaN); conversion to float is exact.
#pragma once
#include <cstdint>
#include <cstring>

#include "core/math/hd.h"

namespace st {

struct bf16 {
  uint16_t bits = 0;
};

ST_HD uint32_t float_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
#endif
}

ST_HD float bits_float(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, 4);
  return f;
#endif
}

ST_HD bf16 float_to_bf16(float f) {
  uint32_t u = float_bits(f);
  bf16 r;
  if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu) != 0) {  // NaN: keep it quiet NaN
    r.bits = static_cast<uint16_t>((u >> 16) | 0x0040u);
    return r;
  }
  uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);  // round to nearest, ties to even
  r.bits = static_cast<uint16_t>((u + rounding) >> 16);
  return r;
}

ST_HD float bf16_to_float(bf16 b) { return bits_float(static_cast<uint32_t>(b.bits) << 16); }

// A stored value as the compute type T: itself, or a bf16 widened exactly (T = float), for
// kernels that read an activation kept in bf16 (core/ops/op_util.h).
template <class T>
ST_HD T widen_as(T x) { return x; }
template <class T>
ST_HD T widen_as(bf16 x) { return static_cast<T>(bf16_to_float(x)); }

}  // namespace st
