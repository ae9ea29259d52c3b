// SimpleTRON attention as a layer: padding zeroed in K and V, then per head
//   non-causal  S = K^T V (summed over the sequence-parallel group), S <- s S, dropout(S), Y = Q S
//   causal      y_t = s_t q_t (S0 + sum_{j <= t} k_j v_j^T), S0 = the earlier SP ranks' states
// The math, forward and backward: core/ops/simpletron/.
#include "core/comm/communicator.h"
#include "core/nn/attention_kinds.h"
#include "core/ops/ops.h"

namespace st {

namespace {

// Non-causal: heads read in place from the (B, N, H*d_h) projections, no permutes.
Tensor noncausal(const Tensor& Q, const Tensor& K, const Tensor& V, const AttentionArgs& a) {
  Tensor S = heads_state(K, V, a.cfg.heads);                         // (B, H, d_h, d_h)
  if (a.ctx.sequence_parallel()) S = all_reduce_sum(S, *a.ctx.sp);  // the only communication
  S = mul(S, a.masks.example_scale);
  S = a.state_dropout.forward(S, a.ctx, a.training, /*sequence_axis=*/false);
  return heads_apply(Q, S);                                          // (B, Nq, H*d_h)
}

// Causal: the heads read and written in the projection layout too (on the CPU; CUDA permutes).
Tensor causal(const Tensor& Q, const Tensor& K, const Tensor& V, const AttentionArgs& a) {
  int64_t H = a.cfg.heads;
  // Earlier ranks' tokens enter as the initial state: the sum of their K^T V (B, H, d_h, d_h).
  Tensor S0;
  if (a.ctx.sequence_parallel()) S0 = exclusive_prefix_sum(heads_state(K, V, H), *a.ctx.sp);
  return simpletron_causal_heads(Q, K, V, H, a.masks.position_scale, a.cfg.chunk, S0);  // (B, N, H*d_h)
}

}  // namespace

Tensor simpletron_attention(const Tensor& Q, const Tensor& K0, const Tensor& V0, const AttentionArgs& a) {
  const Tensor& valid = a.masks.valid;  // (B, 1, N, 1) or undefined
  Tensor rows = valid.defined() ? valid.reshape({valid.size(0), valid.size(2), 1}) : Tensor();
  Tensor K = rows.defined() ? mul(K0, rows) : K0;  // padding zeroed in K and V
  Tensor V = rows.defined() ? mul(V0, rows) : V0;
  return a.cfg.causal ? causal(Q, K, V, a) : noncausal(Q, K, V, a);
}

}  // namespace st
