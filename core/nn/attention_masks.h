// The per-batch masks and scales of attention, computed once per forward pass from the token ids
// and shared by every layer (docs/design.md, "The model"). Built on the host from the ids, then
// moved to the model's device.
#pragma once
#include "core/nn/context.h"
#include "core/nn/model_config.h"

namespace st {

struct AttentionMasks {
  Tensor valid;           // (B, 1, N, 1) 1 for tokens, 0 for padding; undefined: all valid
  Tensor example_scale;   // (B, 1, 1, 1) s for non-causal simpletron (from n per example)
  Tensor position_scale;  // (N) s_t for causal simpletron
  Tensor key_padding;     // (B, 1, 1, N) i32, 1 where the key is padding (softmax)
  Tensor causal_mask;     // (N, N) i32, 1 above the diagonal (unfused causal softmax)
};

// Builds the masks for token ids (B, N) (0 = padding), with `prepend_cls` marking an extra
// valid position 0. Under sequence parallelism the token count n of each example is summed
// over the group and causal positions start at ctx.seq_offset. dtype/device as the model's.
AttentionMasks make_attention_masks(const Tensor& ids, bool prepend_cls, const ModelConfig& cfg,
                                    DType dtype, Device device, const RunContext& ctx);

}  // namespace st
