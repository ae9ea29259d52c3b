// RunContext: what a forward pass needs besides its inputs — the dropout random stream
// (seed, step), where this process's block sits in the global (batch, sequence) tensor, and the
// sequence-parallel group. Defaults describe a single process holding the whole batch.
#pragma once
#include <cstdint>

#include "core/tensor/enum_names.h"

namespace st {

class Communicator;

// What the backward pass recomputes instead of keeping (train.recompute): nothing, or each
// block's forward (the block keeps only its input; autograd.h, checkpoint()).
enum class Recompute : uint8_t { None, Block };
inline constexpr EnumNames<Recompute, 2> kRecomputeNames{{{{"none", Recompute::None},
                                                           {"block", Recompute::Block}}}};

struct RunContext {
  uint64_t seed = 0;   // run seed; dropout streams are (seed, step, site id)
  uint32_t step = 0;   // optimizer step (or micro-step), so masks change every step

  // Dropout masks are functions of the global element index, so that data- and
  // sequence-parallel runs drop exactly what one process with the whole batch would.
  // This process holds batch rows [batch_offset, +local) of batch_global rows and model
  // sequence positions [seq_offset, +local) of seq_global positions (the CLS token, when
  // present, is position 0). -1: the local extent is the global one.
  int64_t batch_offset = 0;
  int64_t batch_global = -1;
  int64_t seq_offset = 0;
  int64_t seq_global = -1;

  // First token column held here (position embeddings start at this index).
  int64_t token_offset = 0;

  // Sequence-parallel group: null (or size 1) when the whole sequence is local. Rank 0 of the
  // group holds the start of the sequence (and the CLS token).
  Communicator* sp = nullptr;

  // Whether the ids may hold padding (0). A caller that knows they hold none (the trainer looks
  // at the batch on the host) sets false: no padding masks are built, and the fused softmax
  // attention runs without a key-padding bias. true builds them on the device from the ids.
  bool may_pad = true;
  // Whether every sequence's padding (if any) is at its end, as the trainer sees on the host:
  // the fused softmax attention then masks keys by length (O(N) memory) instead of an N x N bias.
  // false is always correct.
  bool padding_at_end = false;
  // Whether gradients must repeat bitwise from run to run where a kernel offers the choice (the
  // fused softmax attention's backward; backend/fused_attention.h).
  bool deterministic = true;
  // Activation recompute while recording a graph for backward: same gradients, bitwise, for
  // about one more forward pass of the recomputed parts.
  Recompute recompute = Recompute::None;

  bool sequence_parallel() const;
  bool first_in_sequence() const;  // SP rank 0, or no SP
};

}  // namespace st
