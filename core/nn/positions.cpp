// Sinusoidal position tables; see positions.h.
#include "core/nn/positions.h"

#include "core/math/positions.h"
#include "core/tensor/checked.h"
#include "core/tensor/error.h"

namespace st {

Tensor sinusoidal_positions(int64_t first, int64_t n, int64_t d, DType dtype, Device device) {
  ST_CHECK(first >= 0 && n >= 0 && d >= 0, "sinusoidal_positions: negative extent (first ", first, ", n ", n,
           ", d ", d, ")");
  checked_mul(n, d, "sinusoidal_positions: n x d");
  // Written straight into an f32 or f64 host tensor (no double copy of a 1M-row table).
  DType host = dtype == DType::F64 ? DType::F64 : DType::F32;
  Tensor t = Tensor::empty({n, d}, host, Device::cpu());
  if (host == DType::F64) {
    double* p = t.data<double>();
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < n; ++r)
      for (int64_t j = 0; j < d; ++j) p[r * d + j] = sinusoid(first + r, j, d);
  } else {
    float* p = t.data<float>();
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < n; ++r)
      for (int64_t j = 0; j < d; ++j) p[r * d + j] = static_cast<float>(sinusoid(first + r, j, d));
  }
  return t.to(dtype).to(device);
}

const Tensor& SinusoidCache::get(int64_t first, int64_t n, int64_t d, DType dtype, Device device) {
  if (!table_.defined() || first_ != first || table_.size(0) != n || table_.size(1) != d ||
      table_.dtype() != dtype || table_.device() != device) {
    table_ = Tensor();  // the old table goes before the new one is made
    table_ = sinusoidal_positions(first, n, d, dtype, device);
    first_ = first;
  }
  return table_;
}

}  // namespace st
