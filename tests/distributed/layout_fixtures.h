// Fixtures of the multi-process layout tests (test_equivalence.cpp, test_zero1.cpp): small model
// configurations per task, and deterministic batches cut into this rank's rows and columns.
#pragma once
#include <cstdint>

#include "core/nn/model.h"
#include "distributed/process_grid.h"

namespace st {

// The layout's SP degree (--sp), set by main() in test_equivalence.cpp.
inline int g_sp = 1;

struct Variant {
  const char* name;
  TaskKind task;
  Pooling pooling;
  bool causal;
  PositionKind positions = PositionKind::Learned;
};

inline ModelConfig config_for(const Variant& v) {
  ModelConfig c;
  c.task = v.task;
  c.pooling = v.pooling;
  c.causal = v.causal;
  c.vocab_size = 30;
  c.max_len = 24;
  c.num_classes = 3;
  c.d_model = 16;
  c.heads = 2;
  c.layers = 2;
  c.d_ff = 24;
  c.chunk = 3;
  c.dropout = 0.1f;
  c.state_dropout = v.causal ? 0.0f : 0.1f;
  c.positions = v.positions;
  return c;
}

constexpr int64_t kBatch = 4, kLen = 16;

// Deterministic batch for a step: random tokens with trailing padding of random length.
inline Tensor make_ids(uint64_t seed) {
  auto v = Tensor::uniform({kBatch, kLen}, seed, 1, 30, DType::I32).to_vector<int32_t>();
  auto keep = Tensor::uniform({kBatch}, seed + 7, kLen / 2, kLen + 1, DType::I32).to_vector<int32_t>();
  for (int64_t b = 0; b < kBatch; ++b)
    for (int64_t t = keep[b]; t < kLen; ++t) v[b * kLen + t] = 0;
  return Tensor::from_vector(v, {kBatch, kLen});
}

inline Tensor rows_cols(const Tensor& t, int64_t r0, int64_t rows, int64_t c0, int64_t cols) {
  Tensor x = t.narrow(0, r0, rows);
  if (t.dim() == 2) x = x.narrow(1, c0, cols);
  return x.contiguous();
}

// One step's batch for variant v, whole and as this rank's rows and columns: ids from seed,
// second ids (retrieval) from seed + 100, labels from seed + 200; LM targets are the next tokens.
struct LayoutBatch {
  Tensor ids, ids2, targets;           // (kBatch, kLen), labels (kBatch)
  Tensor my_ids, my_ids2, my_targets;  // this rank's block
};
inline LayoutBatch layout_batch(const Variant& v, const ProcessGrid& grid, uint64_t seed) {
  LayoutBatch b;
  b.ids = make_ids(seed);
  if (v.task == TaskKind::Retrieval) b.ids2 = make_ids(seed + 100);
  Tensor labels = Tensor::uniform({kBatch}, seed + 200, 0, v.task == TaskKind::Retrieval ? 2 : 3, DType::I32);
  b.targets = v.task == TaskKind::LanguageModel ? SimpleTronModel::next_token_targets(b.ids) : labels;
  int64_t rows = kBatch / grid.dp_size(), r0 = grid.dp_rank() * rows;
  int64_t c0 = grid.column_begin(kLen), cols = grid.column_count(kLen);
  b.my_ids = rows_cols(b.ids, r0, rows, c0, cols);
  b.my_ids2 = b.ids2.defined() ? rows_cols(b.ids2, r0, rows, c0, cols) : Tensor();
  b.my_targets = rows_cols(b.targets, r0, rows, c0, cols);
  return b;
}

}  // namespace st
