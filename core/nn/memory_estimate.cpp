// Activation memory estimate; see memory_estimate.h.
#include "core/nn/memory_estimate.h"

namespace st {

ActivationEstimate estimate_activations(const ModelConfig& cfg, int64_t batch, int64_t positions, int64_t sp,
                                        const SoftmaxMemoryPath& softmax) {
  const double B = static_cast<double>(batch), N = static_cast<double>(positions);
  const double layers = static_cast<double>(cfg.layers), H = static_cast<double>(cfg.heads);
  const double d = static_cast<double>(cfg.d_model), d_ff = static_cast<double>(cfg.d_ff);
  const double tokens = B * N / static_cast<double>(sp > 0 ? sp : 1);
  ActivationEstimate e;
  e.saved = tokens * layers * (20.0 * d + 2.0 * d_ff) * 4.0;
  if (cfg.attention != AttentionKind::Softmax) return e;
  const double scores = B * H * N * N;  // one (B, H, N, N) tensor's elements
  if (!softmax.fused) {
    e.saved += layers * scores * 4.0;
    e.transient = 3.0 * scores * 4.0;
    return e;
  }
  // bf16 copies of q, k, v and o (B, N, d) and the f32 statistics (B, H, N) per layer.
  e.saved += layers * (4.0 * B * N * d * 2.0 + B * H * N * 4.0);
  if (softmax.padding_inside) e.saved += layers * B * N * N * 2.0;
  e.transient = softmax.dp_workspace_bytes;
  return e;
}

}  // namespace st
