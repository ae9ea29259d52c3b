// The SimpleTRON scale s from a token count n (docs/design.md, "The model"): n^-1/2,
// (n d_h)^-1/2, 1/n or 1, and 0 for n = 0 (an example without tokens: its state is zero anyway).
// Shared by the CPU and CUDA backends (the per-example scale of non-causal attention) and the
// host (the per-position scale of causal attention), in double.
#pragma once
#include <cstdint>

#include "core/math/hd.h"

namespace st {

enum class ScaleMode : uint8_t { SqrtN, SqrtNDh, N, None };  // s = n^-1/2, (n d_h)^-1/2, 1/n, 1

ST_HD double attention_scale(ScaleMode mode, double n, double head_dim) {
  if (n <= 0) return 0.0;
  switch (mode) {
    case ScaleMode::SqrtN: return 1.0 / sqrt(n);
    case ScaleMode::SqrtNDh: return 1.0 / sqrt(n * head_dim);
    case ScaleMode::N: return 1.0 / n;
    case ScaleMode::None: return 1.0;
  }
  return 1.0;
}

}  // namespace st
