// Multi-head attention as a module (docs/design.md, "The model"): the q, k, v projections (and
// the optional output projection o), then the configured kind. Shapes: x (B, N, d) -> (B, N, d).
// The kinds are in attention_kinds.h; the SimpleTRON math itself in core/ops/simpletron/.
#pragma once
#include "core/nn/attention_masks.h"
#include "core/nn/layers.h"
#include "core/nn/model_config.h"

namespace st {

class Attention : public Module {
 public:
  Attention(const ModelConfig& cfg, InitStream& init);
  // x (B, N, d) -> (B, N, d). first_row_only: the output of position 0 alone, (B, 1, d), with
  // keys and values still from all of x (the last block of a classifier that pools position 0
  // needs no other row). Not for causal attention.
  Tensor forward(const Tensor& x, const AttentionMasks& masks, const RunContext& ctx,
                 bool first_row_only = false) const;
  Linear *q, *k, *v, *o = nullptr;

 private:
  ModelConfig cfg_;
  Dropout state_drop_;
};

}  // namespace st
