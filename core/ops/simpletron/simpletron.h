// The SimpleTRON attention ops (docs/design.md, "The model"). Per example and head, with
// Q, K, V (N, d_h) and no softmax:
//   non-causal   S = K^T V (d_h, d_h),  Y = s Q S                s from the token count n
//   causal       y_t = s_t q_t (S0 + sum_{j <= t} k_j v_j^T)    s_t from the position t
// No N x N matrix is formed, so time and memory are linear in N. Where each form lives, forward
// and backward side by side in each file:
//   noncausal.cpp              heads_state (S = K^T V) and heads_apply (Y = Q S) per head
//   causal.cpp                 simpletron_causal: the argument checks and the choice of form
//   causal_sequential.cpp      a loop over chunks in the projection layout (the CPU form),
//                              O(N + H d_h^2) memory
//   causal_chunk_parallel.cpp  every chunk at once in batched GEMMs (the CUDA form)
// The scale s, padding, the state dropout and the sequence-parallel all-reduce of S are applied
// by the caller (core/nn/attention_simpletron.cpp). The GEMMs run on Backend::gemm
// (core/backend/cpu/cpu_gemm.cpp, core/backend/cuda/cuda_gemm.cpp).
#pragma once
#include <cstdint>

#include "core/tensor/tensor.h"

namespace st {

// ---- non-causal: per-head products in the projection layout (no head permute) -------------
// k (B, N, H*dk), v (B, N, H*dv) -> S (B, H, dk, dv), S_bh = K_bh^T V_bh, where head h of a
// (B, N, H*c) tensor is its columns [h*c, (h+1)*c). Rows may be strided (e.g. narrow views).
// Also the state of the linear_elu baseline, with phi(K) in place of K.
Tensor heads_state(const Tensor& k, const Tensor& v, int64_t heads);
// q (B, N, H*dk), s (B, H, dk, dv) -> Y (B, N, H*dv), Y_bh = Q_bh S_bh.
Tensor heads_apply(const Tensor& q, const Tensor& s);

// ---- causal ----------------------------------------------------------------------------------
// q, k, v (B, H, N, d_h), scales (N) ->
//   y_t = scales_t * q_t (S0 + sum_{j <= t} k_j v_j^T)   (B, H, N, d_h)
// computed in chunks of `chunk` tokens. initial_state S0 (B, H, d_h, d_h) is the sum of earlier
// tokens' states (the earlier sequence-parallel ranks); undefined = 0. Runs the sequential form
// on the CPU and the chunk-parallel form on CUDA (and under compute precision bf16); both give
// the same result up to rounding.
Tensor simpletron_causal(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& scales,
                         int64_t chunk, const Tensor& initial_state = Tensor());
// The same op in the projection layout: q, k, v (B, N, H*d_h), head h = columns
// [h d_h, (h+1) d_h), initial state (B, H, d_h, d_h) -> y (B, N, H*d_h). On the CPU the
// sequential form reads and writes the heads in place (no permutes); on CUDA, and under compute
// precision bf16, the chunk-parallel form on permuted views.
Tensor simpletron_causal_heads(const Tensor& q, const Tensor& k, const Tensor& v, int64_t heads,
                               const Tensor& scales, int64_t chunk, const Tensor& initial_state = Tensor());
// The sequential form (CPU, f32 or f64): per chunk c, O_c = Q_c S + tril(Q_c K_c^T) V_c, then
// S += K_c^T V_c, every GEMM batched over the heads. Backward runs a suffix pass (dK, dV, dS0
// and dQ's intra-chunk term) and a prefix pass (dQ's state term): O(N + H d_h^2) memory beyond
// inputs and outputs.
Tensor simpletron_causal_heads_sequential(const Tensor& q, const Tensor& k, const Tensor& v, int64_t heads,
                                          const Tensor& scales, int64_t chunk,
                                          const Tensor& initial_state = Tensor());
// The sequential form on (B, H, N, d_h): the projection layout of B*H one-head examples.
Tensor simpletron_causal_sequential(const Tensor& q, const Tensor& k, const Tensor& v,
                                    const Tensor& scales, int64_t chunk,
                                    const Tensor& initial_state = Tensor());
// The chunk-parallel form: all chunk states K_c^T V_c at once, their exclusive running sum over
// chunks (cumsum), then Q_c P_c + tril(Q_c K_c^T) V_c for every chunk at once: a fixed number of
// batched GEMMs whatever N is, for devices where a loop of small GEMMs costs launches. Keeps the
// chunk states and the (L, L) chunk scores for backward.
Tensor simpletron_causal_chunk_parallel(const Tensor& q, const Tensor& k, const Tensor& v,
                                        const Tensor& scales, int64_t chunk,
                                        const Tensor& initial_state = Tensor());

}  // namespace st
