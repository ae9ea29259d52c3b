// The sinusoidal position table (model.positions: sinusoidal; core/math/positions.h has the
// formula): rows [first, first + n) of the unbounded table, computed on the host in double and
// stored once in `dtype` on `device`. Embeddings keeps the last one it made (a training run asks
// for the same rows every step).
#pragma once
#include <cstdint>

#include "core/tensor/tensor.h"

namespace st {

// (n, d): row r holds position first + r.
Tensor sinusoidal_positions(int64_t first, int64_t n, int64_t d, DType dtype, Device device);

// The table for the last (first, n, d, dtype, device) asked for.
class SinusoidCache {
 public:
  const Tensor& get(int64_t first, int64_t n, int64_t d, DType dtype, Device device);

 private:
  Tensor table_;
  int64_t first_ = -1;
};

}  // namespace st
