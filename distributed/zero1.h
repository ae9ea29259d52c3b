// ZeRO stage 1: AdamW whose moments are sharded over every rank that holds a replica of the
// parameters. That is the whole dp x sp world (the SP ranks of a replica hold the same
// parameters), so each of the W ranks keeps about 1 / W of the moments.
//
// With GradientSync in GradReduce::ReduceScatter mode, rank r receives the averaged gradient of
// slice r of every gradient bucket. It updates those parameter elements: one AdamW slot per
// ShardPiece, a view of the parameter, with moments of the piece's length. Then the buckets'
// updated slices are all-gathered, so that every rank holds every parameter again.
//
// Reduce-scatter plus all-gather moves what the all-reduce it replaces moves. The update is the
// unsharded one element for element (the same per-element formula, core/math/adamw.h); the
// gradient sums and the clipping norm differ from the unsharded run's only in summation order.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/optim/adamw.h"
#include "distributed/data_parallel.h"

namespace st {

class ShardedAdamW {
 public:
  // `params` as given to `sync`, which must be in GradReduce::ReduceScatter mode and outlive this.
  ShardedAdamW(const std::vector<std::pair<std::string, Tensor>>& params, GradientSync& sync,
               const AdamWConfig& cfg);

  // After sync.finish(). The sum of squares of the whole averaged gradient: this rank's pieces',
  // all-reduced over the world (collective); () f64 on the parameters' device.
  Tensor grad_sum_of_squares();
  // Clipping as clip_grads_to does it, on this rank's pieces of the averaged gradient.
  void clip_grads_to(double norm, double max_norm);
  // The AdamW update of this rank's pieces, then the all-gather of the parameters (collective).
  void step(double lr);
  // Drops the parameters' own gradients (the shards are overwritten by the next finish()).
  void zero_grad();
  int64_t step_count() const { return shard_->step_count(); }
  // Bytes of AdamW moments this rank holds.
  int64_t state_bytes() const;

  // The moments at full size, as a checkpoint stores them, one gradient bucket per next()
  // (collective: every rank runs the stream to its end; a rank that writes nothing passes a
  // `take` that ignores them, or calls skip_rest). The optimizer must outlive the stream.
  std::unique_ptr<MomentStream> moment_stream();
  // The whole stream kept, on ranks that pass keep = true (collective; the others get an empty
  // state with the step).
  AdamWState gathered_state(bool keep);
  // This rank's pieces of a full-size state (every rank passes the same state).
  void load_state(const AdamWState& state);

 private:
  class Stream;
  Tensor flat_param(size_t k) const { return params_[k].detach().reshape({-1}); }

  std::vector<std::string> names_;
  std::vector<Tensor> params_;
  std::vector<std::vector<size_t>> params_of_bucket_;
  GradientSync& sync_;
  std::unique_ptr<AdamW> shard_;  // one slot per sync_.shard_pieces() entry, in that order
};

}  // namespace st
