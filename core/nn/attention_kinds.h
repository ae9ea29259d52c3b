// The attention kinds, one function each, called by Attention::forward (attention.cpp) with the
// projections in their (B, rows, H*d_h) layout (docs/design.md, "The model"):
//   simpletron   s Q (K^T V), non-causal or causal      attention_simpletron.cpp
//   softmax      softmax(Q K^T / sqrt(d_h)) V           attention_softmax.cpp (baseline)
//   linear_elu   phi(Q) (phi(K)^T V) / phi(Q) sum phi(K), phi = elu + 1
//                (Katharopoulos et al.)                  attention_linear_elu.cpp (baseline)
// Adding a kind: docs/design.md, "Recipes".
#pragma once
#include "core/nn/attention_masks.h"
#include "core/nn/layers.h"

namespace st {

// What every kind may read besides the projections.
struct AttentionArgs {
  const ModelConfig& cfg;
  const AttentionMasks& masks;
  const RunContext& ctx;
  const Dropout& state_dropout;  // on simpletron's (d_h, d_h) states
  bool training;
};

// Q (B, Nq, H*d_h), K and V (B, N, H*d_h) -> (B, Nq, H*d_h). Nq is N, or 1 when only the first
// row's output is needed (non-causal kinds only; the keys and values still span all N rows).
Tensor simpletron_attention(const Tensor& Q, const Tensor& K, const Tensor& V, const AttentionArgs& a);
Tensor softmax_attention(const Tensor& Q, const Tensor& K, const Tensor& V, const AttentionArgs& a);
Tensor linear_elu_attention(const Tensor& Q, const Tensor& K, const Tensor& V, const AttentionArgs& a);

// (B, N, H*d_h) -> (B, H, N, d_h) view, and back (a contiguous (B, N, H*d_h) result).
Tensor split_heads(const Tensor& x, int64_t heads);
Tensor merge_heads(const Tensor& y);

}  // namespace st
