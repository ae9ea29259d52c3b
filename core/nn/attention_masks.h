// The per-batch masks and scales of attention, computed once per forward pass from the token ids
// and shared by every layer (docs/design.md, "The model"). Built on the ids' device from the
// ids, so nothing is read back (core/tensor/host_reads.h); the masks that depend only on the
// shape (causal position scales, the causal mask) are built once per shape and kept in a
// MaskCache.
#pragma once
#include <map>
#include <tuple>

#include "core/nn/context.h"
#include "core/nn/model_config.h"

namespace st {

struct AttentionMasks {
  Tensor valid;           // (B, 1, N, 1) 1 for tokens, 0 for padding; undefined: all valid
  Tensor example_scale;   // (B, 1, 1, 1) s for non-causal simpletron (from n per example)
  Tensor position_scale;  // (N) s_t for causal simpletron
  Tensor key_padding;     // (B, 1, 1, N) i32, 1 where the key is padding (softmax); undefined: none
  Tensor key_lengths;     // (B, 1, 1, 1) i32 tokens per example when ctx.padding_at_end (softmax):
                          // keys [0, n_b) are tokens, the rest padding; undefined otherwise
  Tensor causal_mask;     // (N, N) i32, 1 above the diagonal (unfused causal softmax)
};

// The shape-only masks of one model, by (N, first position, dtype, device).
class MaskCache {
 public:
  Tensor position_scale(const ModelConfig& cfg, int64_t n, int64_t offset, DType dtype, Device device);
  Tensor causal_mask(int64_t n, Device device);

 private:
  std::map<std::tuple<int64_t, int64_t, int, std::string>, Tensor> position_scales_;
  std::map<std::tuple<int64_t, std::string>, Tensor> causal_masks_;
};

// Builds the masks for token ids (B, N) (0 = padding) on their device, with `prepend_cls`
// marking an extra valid position 0. Under sequence parallelism the token count n of each
// example is summed over the group (on the device) and causal positions start at
// ctx.seq_offset. With ctx.may_pad false (the caller knows the ids hold no padding) valid and
// key_padding stay undefined; with ctx.padding_at_end, key_lengths is set too. dtype/device as the
// model's.
AttentionMasks make_attention_masks(const Tensor& ids, bool prepend_cls, const ModelConfig& cfg, DType dtype,
                                    Device device, const RunContext& ctx, MaskCache& cache);

}  // namespace st
