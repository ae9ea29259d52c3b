// The activation memory one process plans for per micro-batch, before anything is allocated
// (train.memory_limit, --dry-run, st-bench). Counted in bytes: what the blocks save for backward,
// plus the largest transient buffer. A language model adds its fused head: two floats per token
// and at most two blocks of logits at a time (core/ops/lm_head_loss.cpp). Rough for the blocks (about 20 d + 2 d_ff floats per token
// and layer), exact in its dependence on N for the softmax attention:
// - unfused: the (B, H, N, N) f32 probabilities saved per layer, plus three such buffers at a time;
// - fused (cuDNN): O(N) per layer (bf16 q, k, v, o and f32 row statistics) when every
//   sequence's padding is at its end (keys masked by length); padding inside sequences adds a
//   (B, 1, N, N) bf16 bias per layer; and the deterministic backward may need a dP workspace
//   (backend/fused_attention.h), counted as a transient.
// With block recompute (core/nn/context.h) the blocks keep only their inputs, and one block's
// attention activations plus one FFN slice's (kFfnSliceRows rows) are counted as a transient:
// they live while that block's backward runs.
#pragma once
#include <cstdint>

#include "core/nn/context.h"
#include "core/nn/model_config.h"

namespace st {

struct SoftmaxMemoryPath {
  bool fused = false;              // cuDNN's fused attention (CUDA, bf16, supported head dim)
  bool padding_inside = false;     // some row has tokens after padding: the N x N bias
  double dp_workspace_bytes = 0;   // fused_attention_dp_workspace_bytes for this shape
};

struct ActivationEstimate {
  double saved = 0;      // saved for backward over all layers
  double transient = 0;  // the largest buffer that lives only while one layer runs
  double total() const { return saved + transient; }
};

// One micro-batch of `batch` sequences of `positions` positions (CLS included), of which this
// process holds positions / sp (sp > 1 only for the linear-cost kinds).
ActivationEstimate estimate_activations(const ModelConfig& cfg, int64_t batch, int64_t positions, int64_t sp,
                                        const SoftmaxMemoryPath& softmax, Recompute recompute = Recompute::None);

}  // namespace st
