// The process grid world = dp x sp (docs/design.md, "Distributed training"). SP groups are blocks of consecutive
// ranks (they share a node and its fast links); DP groups are strided: world rank
// w = dp_rank * sp + sp_rank. Invalid layouts are rejected before any work starts.
#pragma once
#include <memory>

#include "core/comm/communicator.h"
#include "core/nn/context.h"
#include "core/nn/model_config.h"

namespace st {

class ProcessGrid {
 public:
  // world: all processes; sp: the sequence-parallel degree from the config.
  ProcessGrid(std::shared_ptr<Communicator> world, int sp);

  // Checks the grid against the model and data: sp must divide nothing but must not exceed
  // the sequence; softmax attention cannot be split over the sequence.
  void validate(const ModelConfig& model, int64_t seq_len) const;

  int world_rank() const { return world_->rank(); }
  int world_size() const { return world_->size(); }
  int dp_rank() const { return dp_rank_; }
  int dp_size() const { return dp_size_; }
  int sp_rank() const { return sp_rank_; }
  int sp_size() const { return sp_size_; }
  Communicator& world() const { return *world_; }
  Communicator& dp() const { return *dp_; }
  Communicator& sp() const { return *sp_; }

  // The RunContext of this rank for a global batch of `global_batch` rows whose sequences
  // have `seq_len` tokens (columns split as the loader splits them) and a CLS token when
  // `cls` is set.
  RunContext context(uint64_t seed, uint32_t step, int64_t global_batch, int64_t seq_len, bool cls) const;
  int64_t column_begin(int64_t seq_len) const { return sp_rank_ * seq_len / sp_size_; }
  int64_t column_count(int64_t seq_len) const {
    return (sp_rank_ + 1) * seq_len / sp_size_ - column_begin(seq_len);
  }

 private:
  std::shared_ptr<Communicator> world_, dp_, sp_;
  int dp_rank_ = 0, dp_size_ = 1, sp_rank_ = 0, sp_size_ = 1;
};

}  // namespace st
