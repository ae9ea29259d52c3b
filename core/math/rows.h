// Row-wise math shared by the CPU and CUDA backends: LayerNorm, softmax and cross-entropy terms.
// A "row" is the last axis of a contiguous (R, C) view. Accumulators are the element type T
// (fp64 for gradient checks, fp32 otherwise); backends choose the summation order.
#pragma once
#include <cmath>
#include <cstdint>

#include "core/math/bf16.h"
#include "core/math/fast_math.h"
#include "core/math/hd.h"

namespace st {

// LayerNorm: xhat = (x - mean) * rstd, y = xhat * w + b, rstd = 1/sqrt(var + eps) (biased var).
struct LayerNormTerms {
  template <class T> ST_HD static T rstd(T var, T eps) { return T(1) / sqrt(var + eps); }
  template <class T> ST_HD static T xhat(T x, T mean, T rstd) { return (x - mean) * rstd; }
  template <class T> ST_HD static T forward(T x, T mean, T rstd, T w, T b) {
    return xhat(x, mean, rstd) * w + b;
  }
  // dx = rstd * (g - mean(g) - xhat * mean(g * xhat)), with g = dy * w.
  template <class T>
  ST_HD static T input_grad(T g, T xhat, T rstd, T mean_g, T mean_gxhat) {
    return rstd * (g - mean_g - xhat * mean_gxhat);
  }
};

// x̂ of (row r, column j) for LayerNorm's backward, from the input and its statistics, or read
// from the bf16 x̂ that the forward stored under precision bf16 (core/ops/op_util.h).
template <class T>
struct LayerNormXhatFromInput {
  const T* x;
  const T* mean;
  const T* rstd;
  int64_t C;
  ST_HD T operator()(int64_t r, int64_t j) const { return LayerNormTerms::xhat(x[r * C + j], mean[r], rstd[r]); }
};
struct LayerNormXhatFromStored {
  const bf16* xhat;
  int64_t C;
  ST_HD float operator()(int64_t r, int64_t j) const { return bf16_to_float(xhat[r * C + j]); }
};

// Softmax: y = exp(x - max) / sum; log-softmax: x - max - log(sum).
struct SoftmaxTerms {
  // dx = y * (dy - sum(dy * y))
  template <class T> ST_HD static T softmax_grad(T y, T dy, T dot) { return y * (dy - dot); }
  // dx = dy - exp(y) * sum(dy), y = log-softmax
  template <class T> ST_HD static T log_softmax_grad(T y, T dy, T sum_dy) {
    return dy - exp_of(y) * sum_dy;
  }
};

// Cross-entropy with label smoothing eps over C classes, target t:
//   q_j = (1 - eps) [j == t] + eps / C,  loss = lse - sum_j q_j x_j
//   dloss/dx_j = softmax_j - q_j
struct CrossEntropyTerms {
  template <class T> ST_HD static T target_weight(bool is_target, T eps, T classes) {
    return (is_target ? T(1) - eps : T(0)) + eps / classes;
  }
  // sum_j q_j x_j from the target logit and the row sum of logits.
  template <class T> ST_HD static T target_dot(T x_target, T sum_x, T eps, T classes) {
    return (T(1) - eps) * x_target + eps / classes * sum_x;
  }
  template <class T> ST_HD static T logit_grad(T x, T lse, T q, T dloss) {
    return (exp_of(x - lse) - q) * dloss;
  }
};

}  // namespace st
