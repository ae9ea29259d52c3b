// AdamW (Loshchilov & Hutter) per-element update, shared by CPU and CUDA optimizers:
//   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
//   p *= 1 - lr wd;  p -= (lr / (1-b1^t)) m / (sqrt(v) / sqrt(1-b2^t) + eps)
// (the operation order of torch.optim.AdamW). Updates p, m, v in place. Bias corrections
// (1 - beta^t) are precomputed per step.
#pragma once
#include <cmath>

#include "core/math/hd.h"

namespace st {

struct AdamWStep {
  float lr, beta1, beta2, eps, weight_decay;
  float bias_correction1, bias_correction2;  // 1 - beta^t

  ST_HD void operator()(float& p, float& m, float& v, float g) const {
    m = beta1 * m + (1.0f - beta1) * g;
    v = beta2 * v + (1.0f - beta2) * g * g;
    p *= 1.0f - lr * weight_decay;
    float denom = sqrtf(v) / sqrtf(bias_correction2) + eps;
    p -= (lr / bias_correction1) * (m / denom);
  }
};

}  // namespace st
