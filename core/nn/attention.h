// Multi-head attention of the three kinds (DESIGN section 3): simpletron (s * Q (K^T V),
// non-causal or chunked causal), softmax (baseline, padding and causal masks) and linear_elu
// (Katharopoulos et al.: phi(x) = elu(x) + 1, with its normaliser). Shapes: x (B, N, d) ->
// (B, N, d). Non-causal simpletron and linear_elu read each head in place from the (B, N, H*d_h)
// projections (core/ops heads_state / heads_apply); causal simpletron and softmax use
// (B, H, N, d_h) views.
#pragma once
#include "core/nn/layers.h"
#include "core/nn/model_config.h"

namespace st {

// Per-batch masks and scales, computed once per forward pass and shared by every layer.
struct AttentionMasks {
  Tensor valid;           // (B, 1, N, 1) 1 for tokens, 0 for padding; undefined: all valid
  Tensor example_scale;   // (B, 1, 1, 1) s for non-causal simpletron (from n per example)
  Tensor position_scale;  // (N) s_t for causal simpletron
  Tensor key_padding;     // (B, 1, 1, N) i32, 1 where the key is padding (softmax)
  Tensor causal_mask;     // (N, N) i32, 1 above the diagonal (softmax, causal)
};

// Builds the masks for tokens ids (B, N) (0 = padding), with `prepend_cls` marking an extra
// valid position 0. Under sequence parallelism the token count n of each example is summed
// over the group and causal positions start at ctx.seq_offset. dtype/device as the model's.
AttentionMasks make_attention_masks(const Tensor& ids, bool prepend_cls, const ModelConfig& cfg,
                                    DType dtype, Device device, const RunContext& ctx);

class Attention : public Module {
 public:
  Attention(const ModelConfig& cfg, InitStream& init);
  // x (B, N, d) -> (B, N, d). query_rows >= 0: only the outputs of the first query_rows
  // positions, (B, query_rows, d), with keys and values still from all of x (the last block of
  // a CLS-pooled classifier needs no other rows). Not for causal attention.
  Tensor forward(const Tensor& x, const AttentionMasks& masks, const RunContext& ctx,
                 int64_t query_rows = -1) const;
  Linear *q, *k, *v, *o = nullptr;

 private:
  Tensor simpletron(const Tensor& Q, const Tensor& K, const Tensor& V, const AttentionMasks& m,
                    const RunContext& ctx) const;
  // The same in the (B, N, H*d_h) projection layout (heads_state / heads_apply, no permutes);
  // valid (B, N, 1) or undefined. Returns (B, N, H*d_h).
  Tensor simpletron_rows(const Tensor& Q, const Tensor& K, const Tensor& V, const Tensor& valid,
                         const AttentionMasks& m, const RunContext& ctx) const;
  Tensor linear_elu_rows(const Tensor& Q, const Tensor& K, const Tensor& V, const Tensor& valid,
                         const RunContext& ctx) const;
  Tensor softmax_attention(const Tensor& Q, const Tensor& K, const Tensor& V,
                           const AttentionMasks& m) const;
  ModelConfig cfg_;
  Dropout state_drop_;
};

}  // namespace st
