// The softmax baseline: per head softmax(Q K^T / sqrt(d_h), padding keys and, when causal,
// later keys removed) V. The one kind that forms (B, H, N, N) scores, unless it runs fused: on
// CUDA under bf16 compute precision, one cuDNN flash-attention kernel
// (core/ops/softmax_attention_fused.cpp), whose memory is O(N) when padding sits at the end of
// every sequence (a.masks.key_lengths). No sequence parallelism.
#include <cmath>
#include <cstdio>
#include <mutex>

#include "core/backend/fused_attention.h"
#include "core/nn/attention_kinds.h"
#include "core/ops/ops.h"

namespace st {

Tensor softmax_attention(const Tensor& Q0, const Tensor& K0, const Tensor& V0, const AttentionArgs& a) {
  ST_CHECK(!a.ctx.sequence_parallel(),  // the process grid refuses it before any work
           "model.attention: softmax attention does not support sequence parallelism (sp > 1)");
  int64_t H = a.cfg.heads;
  Tensor Q = split_heads(Q0, H), K = split_heads(K0, H), V = split_heads(V0, H);  // (B, H, N, d_h)
  double s = 1.0 / std::sqrt(double(a.cfg.head_dim()));
  // A shape cuDNN refuses runs unfused (the backend says so once per shape); others stay fused.
  if (fused_softmax_attention_available(Q)) {
    if (a.masks.key_padding.defined() && !a.masks.key_lengths.defined()) {
      static std::once_flag once;
      std::call_once(once, [] {
        std::fprintf(stderr, "softmax attention: a batch has tokens after padding, so the fused attention masks keys "
                             "with a (batch, 1, N, N) bias, O(N^2) memory; padding only at the end of each sequence "
                             "keeps it O(N)\n");
      });
    }
    try {
      return merge_heads(softmax_attention_fused(Q, K, V, a.masks.key_padding, a.masks.key_lengths,
                                                 a.cfg.causal, s, a.ctx.deterministic));
    } catch (const FusedAttentionRejected&) {
    }
  }
  Tensor scores = scale(matmul(Q, K.transpose(2, 3)), s);  // (B, H, Nq, N)
  if (a.masks.key_padding.defined()) scores = masked_fill(scores, a.masks.key_padding, -INFINITY);
  if (a.cfg.causal) {  // built here when make_attention_masks expected the fused path
    Tensor later = a.masks.causal_mask.defined()
                       ? a.masks.causal_mask
                       : triangle_ones(Q.size(2), Triangle::StrictUpper, DType::I32, Q.device());
    scores = masked_fill(scores, later, -INFINITY);
  }
  return merge_heads(matmul(softmax(scores), V));
}

}  // namespace st
