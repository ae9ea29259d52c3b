// The attention module: projections, then one of the kinds of attention_kinds.h.
#include "core/nn/attention.h"

#include "core/autograd/part_times.h"
#include "core/nn/attention_kinds.h"
#include "core/ops/ops.h"

namespace st {

Tensor split_heads(const Tensor& x, int64_t heads) {  // (B, N, H*d_h) -> (B, H, N, d_h)
  return x.reshape({x.size(0), x.size(1), heads, x.size(2) / heads}).permute({0, 2, 1, 3});
}

Tensor merge_heads(const Tensor& y) {  // (B, H, N, d_h) -> (B, N, H*d_h)
  return y.permute({0, 2, 1, 3}).reshape({y.size(0), y.size(2), y.size(1) * y.size(3)});
}

Attention::Attention(const ModelConfig& cfg, InitStream& init)
    : cfg_(cfg), state_drop_(cfg.state_dropout, init) {
  int64_t d = cfg.d_model, dq = cfg.qkv_dim();
  q = register_module("q", std::make_unique<Linear>(d, dq, true, init));
  k = register_module("k", std::make_unique<Linear>(d, dq, true, init));
  v = register_module("v", std::make_unique<Linear>(d, dq, true, init));
  if (cfg.out_proj) o = register_module("o", std::make_unique<Linear>(dq, d, true, init));
}

Tensor Attention::forward(const Tensor& x, const AttentionMasks& masks, const RunContext& ctx,
                          bool first_row_only) const {
  PartScope part(ModelPart::Attention);
  ST_CHECK(!(first_row_only && cfg_.causal), "attention: first_row_only needs non-causal attention");
  Tensor xq = first_row_only ? x.narrow(1, 0, 1) : x;              // (B, Nq, d)
  Tensor Q = q->forward(xq), K = k->forward(x), V = v->forward(x);  // (B, *, H*d_h)
  AttentionArgs args{cfg_, masks, ctx, state_drop_, training()};
  Tensor Y;  // (B, Nq, H*d_h)
  switch (cfg_.attention) {
    case AttentionKind::SimpleTron: Y = simpletron_attention(Q, K, V, args); break;
    case AttentionKind::Softmax: Y = softmax_attention(Q, K, V, args); break;
    case AttentionKind::LinearElu: Y = linear_elu_attention(Q, K, V, args); break;
  }
  return o ? o->forward(Y) : Y;
}

}  // namespace st
