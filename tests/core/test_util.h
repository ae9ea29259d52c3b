// Helpers for core tests: random tensors and closeness checks.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/ops/ops.h"

namespace st::testing {

inline Tensor rand64(const Shape& s, uint64_t seed, bool grad = true) {
  Tensor t = Tensor::randn(s, seed, 1.0, DType::F64);
  if (grad) t.set_requires_grad(true);
  return t;
}

// max |a - b| / max(1, max |b|)
inline double rel_error(const Tensor& a, const Tensor& b) {
  auto va = a.to_vector<double>(), vb = b.to_vector<double>();
  EXPECT_EQ(va.size(), vb.size());
  double num = 0, den = 1;
  for (size_t i = 0; i < va.size() && i < vb.size(); ++i) {
    num = std::max(num, std::fabs(va[i] - vb[i]));
    den = std::max(den, std::fabs(vb[i]));
  }
  return num / den;
}

inline void expect_values(const Tensor& t, const std::vector<double>& expected, double tol) {
  auto v = t.to_vector<double>();
  ASSERT_EQ(v.size(), expected.size()) << t.str();
  for (size_t i = 0; i < v.size(); ++i) EXPECT_NEAR(v[i], expected[i], tol) << "element " << i;
}

inline bool bitwise_equal(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  Tensor ca = a.contiguous(), cb = b.contiguous();
  return std::memcmp(ca.raw_data(), cb.raw_data(), ca.numel() * dtype_size(ca.dtype())) == 0;
}

}  // namespace st::testing
