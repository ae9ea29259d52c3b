// Comparing CUDA results with the CPU backend's, for the CUDA test files. ST_REQUIRE_CUDA()
// skips a test, with the reason, when no CUDA device is visible (or the build has none).
// max_rel_error = max |got - want| / max(1, max |want|) over all elements (equal infinities and
// NaN pairs count as equal; read through host copies, so either tensor may live on any device);
// same_bits: equal dtype, shape and bytes. Tolerances of single ops: f32 1e-5, f64 1e-12.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/backend/backend.h"
#include "core/tensor/tensor.h"

#define ST_REQUIRE_CUDA()                                                                   \
  do {                                                                                      \
    if (::st::cuda_device_count() == 0)                                                     \
      GTEST_SKIP() << "no CUDA device: "                                                    \
                   << (::st::cuda_built() ? "none is visible to this process"               \
                                          : "this build has no CUDA support");               \
  } while (0)

namespace st::testing {

inline Device cuda0() { return Device::cuda(0); }

// One op on CUDA against the same op on the CPU: f32 sums in another order (cuBLAS tiles,
// block reductions) agree to ~1e-6 of the largest magnitude; f64 to ~1e-15.
inline double op_tolerance(DType t) { return t == DType::F64 ? 1e-12 : 1e-5; }

inline double max_rel_error(const Tensor& got, const Tensor& want) {
  std::vector<double> a = got.to_vector<double>(), b = want.to_vector<double>();
  EXPECT_EQ(a.size(), b.size()) << "max_rel_error: sizes differ";
  double num = 0, den = 1;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    if (a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i]))) continue;
    if (!std::isfinite(a[i]) || !std::isfinite(b[i])) return INFINITY;
    num = std::max(num, std::fabs(a[i] - b[i]));
    den = std::max(den, std::fabs(b[i]));
  }
  return num / den;
}

inline bool same_bits(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  Tensor ha = a.to(Device::cpu()).contiguous(), hb = b.to(Device::cpu()).contiguous();
  return std::memcmp(ha.raw_data(), hb.raw_data(), ha.numel() * dtype_size(ha.dtype())) == 0;
}

}  // namespace st::testing
