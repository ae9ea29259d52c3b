// Activation memory estimate; see memory_estimate.h.
#include "core/nn/memory_estimate.h"

#include <algorithm>

#include "core/ops/ops.h"

namespace st {

ActivationEstimate estimate_activations(const ModelConfig& cfg, int64_t batch, int64_t positions, int64_t sp,
                                        const SoftmaxMemoryPath& softmax, Recompute recompute) {
  const double B = static_cast<double>(batch), N = static_cast<double>(positions);
  const double layers = static_cast<double>(cfg.layers), H = static_cast<double>(cfg.heads);
  const double d = static_cast<double>(cfg.d_model), d_ff = static_cast<double>(cfg.d_ff);
  const double tokens = B * N / static_cast<double>(sp > 0 ? sp : 1);
  // What one block saves for its backward, and the largest buffer one block's pass holds briefly.
  double layer = tokens * (20.0 * d + 2.0 * d_ff) * 4.0, transient = 0;
  if (cfg.attention == AttentionKind::Softmax) {
    const double scores = B * H * N * N;  // one (B, H, N, N) tensor's elements
    if (!softmax.fused) {
      layer += scores * 4.0;
      transient = 3.0 * scores * 4.0;
    } else {
      // bf16 copies of q, k, v and o (B, N, d) and the f32 statistics (B, H, N).
      layer += 4.0 * B * N * d * 2.0 + B * H * N * 4.0;
      if (softmax.padding_inside) layer += B * N * N * 2.0;
      transient = softmax.dp_workspace_bytes;
    }
  }
  ActivationEstimate e;
  if (recompute == Recompute::Block) {
    // Each block keeps its f32 input (tokens, d). While one block's backward runs, its forward
    // runs again: the attention sublayer's activations over all tokens (about 12 d floats per
    // token, plus the softmax's own), and the FFN sublayer's over one slice of kFfnSliceRows
    // rows at a time (about 8 d + 2 d_ff floats per row).
    const double slice = std::min(tokens, static_cast<double>(kFfnSliceRows));
    const double attention = layer - tokens * (20.0 * d + 2.0 * d_ff) * 4.0 + tokens * 12.0 * d * 4.0;
    e.saved = (layers + 1.0) * tokens * d * 4.0;
    e.transient = (cfg.layers > 0 ? attention + slice * (8.0 * d + 2.0 * d_ff) * 4.0 : 0.0) + transient;
  } else {
    e.saved = layers * layer;
    e.transient = transient;
  }
  if (cfg.task == TaskKind::LanguageModel) {
    // The head and loss run fused (core/ops/lm_head_loss.cpp): each token keeps its loss and
    // log-sum-exp; at most two blocks of logits (rows x vocab) exist at a time, after the blocks'
    // forward and before their backward.
    const double V = static_cast<double>(cfg.vocab_size);
    const double rows = static_cast<double>(lm_head_block_rows(static_cast<int64_t>(tokens), cfg.vocab_size));
    e.saved += tokens * 2.0 * 4.0;
    e.transient = std::max(e.transient, 2.0 * rows * V * 4.0);
  }
  return e;
}

}  // namespace st
