// Nominal training FLOPs of one step of the model (st-train's --dry-run and MFU, st-bench's mfu
// column): 2 FLOPs per multiply-add of the matrix products, and the backward counted as twice
// the forward. Counted, over every position of every block: the Q, K, V projections (and Wo
// with model.out_proj), the FFN's two matrices, and the attention, per head K^T V and Q S for
// the linear-cost kinds (N d_h^2 each) or Q K^T and P V for softmax (N^2 d_h each, the full
// square even when causal); for a language model also the output layer (d x vocab per
// position). Not counted: elementwise work, layer norms, the embedding lookup and the
// classifier head (O(B d^2), negligible beside the blocks).
#pragma once
#include <cstdint>

#include "core/nn/model_config.h"

namespace st {

// `batch` sequences of `positions` positions each (CLS included where the model prepends it).
double training_flops(const ModelConfig& cfg, int64_t batch, int64_t positions);

}  // namespace st
