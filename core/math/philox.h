// Philox4x32-10 counter-based RNG (Salmon et al., SC'11). A random number is a pure function of
// (key, counter), so dropout masks and initialisations do not depend on thread count, device or
// how a tensor is split across ranks. Element i of a stream uses counter (i/4, c2, c3), lane i%4.
#pragma once
#include <cstdint>

#include "core/math/fused.h"
#include "core/math/hd.h"

namespace st {

struct Philox4 {
  uint32_t v[4];
};

ST_HD void philox_mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  uint64_t p = static_cast<uint64_t>(a) * b;
  hi = static_cast<uint32_t>(p >> 32);
  lo = static_cast<uint32_t>(p);
}

ST_HD Philox4 philox4x32_10(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0,
                            uint32_t k1) {
  const uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
  for (int r = 0; r < 10; ++r) {
    uint32_t hi0, lo0, hi1, lo1;
    philox_mulhilo(M0, c0, hi0, lo0);
    philox_mulhilo(M1, c2, hi1, lo1);
    uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
    c0 = n0; c1 = n1; c2 = n2; c3 = n3;
    k0 += W0;
    k1 += W1;
  }
  return Philox4{{c0, c1, c2, c3}};
}

// The identity of one random stream: a seed plus two 32-bit stream ids (e.g. step, op id).
struct RngKey {
  uint64_t seed = 0;
  uint32_t stream_a = 0;
  uint32_t stream_b = 0;
};

// 32 random bits for element `index` of the stream `key`.
ST_HD uint32_t philox_bits(const RngKey& key, uint64_t index) {
  uint64_t block = index >> 2;
  Philox4 r = philox4x32_10(static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32),
                            key.stream_a, key.stream_b, static_cast<uint32_t>(key.seed),
                            static_cast<uint32_t>(key.seed >> 32));
  return r.v[index & 3];
}

// Uniform in [0, 1) with 24 bits of resolution (exactly representable in float).
ST_HD float philox_uniform(const RngKey& key, uint64_t index) {
  return static_cast<float>(philox_bits(key, index) >> 8) * (1.0f / 16777216.0f);
}

// Uniform in [lo, hi) from 32 random bits, in double: lo + (hi - lo) u with the product rounded
// on its own (mul_rn, never contracted into an FMA), so that the CPU and CUDA fills agree bitwise.
ST_HD double philox_uniform_between(const RngKey& key, uint64_t index, double lo, double hi) {
  double u = static_cast<double>(philox_bits(key, index)) * (1.0 / 4294967296.0);
  return lo + mul_rn(hi - lo, u);
}

// Standard normal by Box-Muller over two independent uniform draws of the stream.
ST_HD double philox_normal(const RngKey& key, uint64_t index) {
  RngKey k2 = key;
  k2.stream_b ^= 0x5bd1e995u;
  double u1 = (static_cast<double>(philox_bits(key, index)) + 1.0) * (1.0 / 4294967297.0);
  double u2 = static_cast<double>(philox_bits(k2, index)) * (1.0 / 4294967296.0);
  const double two_pi = 6.283185307179586;
  return sqrt(-2.0 * log(u1)) * cos(two_pi * u2);
}

// Dropout keep decision: element kept when its uniform draw is at least p.
ST_HD bool dropout_keep(const RngKey& key, uint64_t index, float p) {
  return philox_uniform(key, index) >= p;
}

}  // namespace st
