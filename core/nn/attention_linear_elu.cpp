// The linear_elu baseline (Katharopoulos et al., "Transformers are RNNs"): per head, with the
// feature map phi(x) = elu(x) + 1 and padding removed from phi(K),
//   Y = phi(Q) (phi(K)^T V) / (phi(Q) sum_j phi(k_j) + 1e-6)
// Non-causal only. Its state and output products are SimpleTRON's heads_state / heads_apply.
#include "core/comm/communicator.h"
#include "core/nn/attention_kinds.h"
#include "core/ops/ops.h"

namespace st {

Tensor linear_elu_attention(const Tensor& Q, const Tensor& K, const Tensor& V, const AttentionArgs& a) {
  int64_t B = Q.size(0), Nq = Q.size(1), H = a.cfg.heads, dh = a.cfg.head_dim();
  Tensor fq = elu_plus_one(Q);
  Tensor fk = elu_plus_one(K);
  const Tensor& valid = a.masks.valid;  // (B, 1, N, 1) or undefined
  if (valid.defined()) fk = mul(fk, valid.reshape({B, valid.size(2), 1}));
  Tensor S = heads_state(fk, V, H);           // (B, H, d_h, d_h)
  Tensor z = sum(fk, {1}, /*keepdim=*/true);  // (B, 1, H*d_h)
  if (a.ctx.sequence_parallel()) {
    S = all_reduce_sum(S, *a.ctx.sp);
    z = all_reduce_sum(z, *a.ctx.sp);
  }
  Tensor den = add_scalar(heads_apply(fq, z.reshape({B, H, dh, 1})), 1e-6);  // (B, Nq, H)
  Tensor num = heads_apply(fq, S).reshape({B, Nq, H, dh});
  return div(num, den.reshape({B, Nq, H, 1})).reshape({B, Nq, H * dh});
}

}  // namespace st
