// The argument checks shared by the two forms of causal SimpleTRON attention (causal.cpp):
// q, k, v equal (B, H, N, d_h) (or (B, N, H*d_h), the projection layout) f32 or f64 on one device, scales (N), chunk >= 1 and the initial
// state (B, H, d_h, d_h) or undefined. Private to core/ops/simpletron.
#pragma once
#include <cstdint>

#include "core/tensor/tensor.h"

namespace st::detail {

struct CausalSizes {
  int64_t B, H, N, dh;
};

// Throws naming `op` and the offending argument; returns the sizes.
CausalSizes check_causal_args(const char* op, const Tensor& q, const Tensor& k, const Tensor& v,
                              const Tensor& scales, int64_t chunk, const Tensor& initial_state);
// The same for the projection layout: q, k, v equal (B, N, H*d_h) with H = heads.
CausalSizes check_causal_heads_args(const char* op, const Tensor& q, const Tensor& k, const Tensor& v,
                                    int64_t heads, const Tensor& scales, int64_t chunk,
                                    const Tensor& initial_state);

}  // namespace st::detail
