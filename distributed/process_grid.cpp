// ProcessGrid; see process_grid.h.
#include "distributed/process_grid.h"

namespace st {

ProcessGrid::ProcessGrid(std::shared_ptr<Communicator> world, int sp) : world_(std::move(world)) {
  int W = world_->size();
  ST_CHECK(sp >= 1, "distributed.sp: must be at least 1, got ", sp);
  ST_CHECK(W % sp == 0, "distributed.sp: the world of ", W, " processes is not divisible by sp = ", sp,
           " (dp x sp must equal the number of processes)");
  sp_size_ = sp;
  dp_size_ = W / sp;
  sp_rank_ = world_->rank() % sp;
  dp_rank_ = world_->rank() / sp;
  sp_ = world_->split(/*color=*/dp_rank_, /*key=*/sp_rank_);
  dp_ = world_->split(/*color=*/sp_rank_, /*key=*/dp_rank_);
}

void ProcessGrid::validate(const ModelConfig& model, int64_t seq_len) const {
  if (sp_size_ == 1) return;
  ST_CHECK(support_of(model.attention).sequence_parallel, "distributed.sp: ", name_of(model.attention),
           " attention does not support sequence parallelism (sp = ", sp_size_,
           "); use sp: 1 or model.attention: simpletron");
  ST_CHECK(sp_size_ <= seq_len, "distributed.sp: ", sp_size_, " ranks for sequences of ", seq_len,
           " tokens; sp must not exceed the sequence length");
}

RunContext ProcessGrid::context(uint64_t seed, uint32_t step, int64_t global_batch, int64_t seq_len,
                                bool cls) const {
  RunContext c;
  c.seed = seed;
  c.step = step;
  int64_t local_batch = global_batch / dp_size_;
  c.batch_offset = dp_rank_ * local_batch;
  c.batch_global = global_batch;
  c.token_offset = column_begin(seq_len);
  int64_t with_cls = cls ? 1 : 0;
  c.seq_global = seq_len + with_cls;
  c.seq_offset = c.token_offset + (sp_rank_ == 0 ? 0 : with_cls);
  c.sp = sp_.get();
  return c;
}

}  // namespace st
