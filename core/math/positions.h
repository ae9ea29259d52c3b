// Fixed sinusoidal position encodings (model.positions: sinusoidal; docs/design.md, "The
// model"): no parameters, so nothing grows with the sequence length but the activations. For
// global token position p (0-based; a CLS vector has no position) and column j of d (d even),
// with the frequency w_i = 10000^(-2i / d) of the pair i = j / 2:
//   PE[p, 2i] = a sin(p w_i),  PE[p, 2i + 1] = a cos(p w_i),  a = kSinusoidAmplitude,
// evaluated in double (p w_i is up to about 2^30 radians: float would lose the angle) and
// rounded once to the table's dtype. The amplitude gives every column the root mean square of a
// freshly initialised embedding (0.02, layers.h kInitStd): sinusoids of amplitude 1 would drown
// the token embeddings 50 to 1 at the start of training (a marked-token task at N = 128 then
// stayed at chance where a learned table reached 62%).
#pragma once
#include <cstdint>

#include "core/math/hd.h"

namespace st {

ST_HD double sinusoid_frequency(int64_t pair, int64_t d) {
  return pow(10000.0, -static_cast<double>(2 * pair) / static_cast<double>(d));
}

// 0.02 * sqrt(2): a sine's root mean square is 1 / sqrt(2).
constexpr double kSinusoidAmplitude = 0.028284271247461901;

ST_HD double sinusoid(int64_t position, int64_t column, int64_t d) {
  double angle = static_cast<double>(position) * sinusoid_frequency(column / 2, d);
  return kSinusoidAmplitude * (column % 2 == 0 ? sin(angle) : cos(angle));
}

}  // namespace st
