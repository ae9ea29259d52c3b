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

Tensor causal(const Tensor& Q, const Tensor& K, const Tensor& V, const AttentionArgs& a) {
  int64_t H = a.cfg.heads;
  Tensor q = split_heads(Q, H), k = split_heads(K, H), v = split_heads(V, H);  // (B, H, N, d_h)
  // Earlier ranks' tokens enter as the initial state: the sum of their K^T V.
  Tensor S0;
  if (a.ctx.sequence_parallel()) S0 = exclusive_prefix_sum(matmul(k.transpose(2, 3), v), *a.ctx.sp);
  return merge_heads(simpletron_causal(q, k, v, a.masks.position_scale, a.cfg.chunk, S0));
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
