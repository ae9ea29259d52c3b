// Gradient synchronisation for data (and sequence) parallelism: gradients are summed over the
// world in one all-reduce per bucket and divided by the DP size (averaged over DP, summed over
// SP). Buckets (about bucket_bytes each, parameters in reverse order, as backward produces
// them) are launched from grad-ready hooks while backward still runs, always in bucket order on
// every rank (a bucket waits for the ones before it); non-final micro-batches of gradient
// accumulation communicate nothing.
//
// Sharded (ZeRO-1, distributed/zero1.h): each bucket's flat buffer is padded to a multiple of the
// world size W and reduce-scattered instead: rank r receives slice r of every bucket (its shard),
// summed over the world and divided by the DP size; the parameters' .grad are dropped once
// their bucket is reduced (nothing but the shard is read after finish()). The pieces of parameters that fall into this rank's slices are listed in
// shard_pieces(); shard_gradient() is a piece's averaged gradient.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/comm/communicator.h"
#include "core/tensor/tensor.h"

namespace st {

enum class GradReduce {
  AllReduce,      // every rank gets the whole averaged gradient in .grad
  ReduceScatter,  // every rank gets its shard of it (ZeRO-1)
};

// Part of one parameter inside this rank's slice of one bucket (sharded mode).
struct ShardPiece {
  size_t param = 0;          // index into the parameter list
  int64_t param_offset = 0;  // first element within the flattened parameter
  int64_t length = 0;
  size_t bucket = 0;
  int64_t shard_offset = 0;  // first element within this rank's slice of the bucket
};

class GradientSync {
 public:
  GradientSync(const std::vector<std::pair<std::string, Tensor>>& params, Communicator& world,
               int dp_size, int64_t bucket_bytes = 25 << 20, GradReduce mode = GradReduce::AllReduce);
  ~GradientSync();
  GradientSync(const GradientSync&) = delete;
  GradientSync& operator=(const GradientSync&) = delete;

  // Before each micro-batch's backward: `sync` on the last micro-batch of a step only.
  void begin_backward(bool sync);
  // false: every bucket is launched in finish(), in order, none inside backward. For runs whose
  // ranks also issue other collectives during backward on another device communicator (sequence
  // parallelism over NCCL): NCCL may deadlock when ranks issue collectives of two communicators
  // in different orders, and which buckets are ready when differs between SP ranks.
  void set_overlap(bool overlap) { overlap_ = overlap; }
  // After backward of the last micro-batch: launches what is left, waits, writes the averaged
  // gradients back (parameters without a gradient get one); sharded, the averaged gradients stay
  // in the shards and the parameters are left without .grad.
  void finish();

  size_t bucket_count() const { return buckets_.size(); }
  GradReduce mode() const { return mode_; }
  Communicator& world() const { return world_; }

  // Sharded mode. This rank's pieces, bucket by bucket, in order within each bucket.
  const std::vector<ShardPiece>& shard_pieces() const { return pieces_; }
  // A piece's gradient after finish(): (length) f32, summed over the world / dp (a view).
  Tensor shard_gradient(const ShardPiece& piece) const;
  // Every bucket's slice (shard_numel(b) elements, the same on every rank) and where a parameter
  // sits in its bucket: element e of parameter k is element offset_in_bucket(k) + e of
  // bucket_of(k)'s flat buffer, whose slice r rank r owns.
  int64_t shard_numel(size_t bucket) const { return buckets_[bucket].shard_numel; }
  size_t bucket_of(size_t param) const { return bucket_of_[param]; }
  int64_t offset_in_bucket(size_t param) const { return offset_in_bucket_[param]; }
  // Collective over the world, sharded mode, between finish() and the next backward (it reuses
  // the bucket's buffers): `fill(slice)` writes this rank's slice of bucket b (zeroed first), the
  // slices are all-gathered into the bucket's flat buffer, and `use(flat)` reads the whole bucket
  // (flat: (W * shard_numel(b)) f32, valid during the call).
  void all_gather_bucket(size_t b, const std::function<void(const Tensor&)>& fill,
                         const std::function<void(const Tensor&)>& use);
  int64_t launched_early() const { return launched_early_; }  // buckets launched inside backward

 private:
  struct Bucket {
    std::vector<size_t> params;  // indices into params_
    int64_t numel = 0;
    int ready = 0;
    int64_t shard_numel = 0;  // sharded: numel rounded up to a multiple of W, over W
    Tensor flat;              // (numel), sharded (W * shard_numel)
    Tensor shard;             // sharded: (shard_numel), this rank's averaged slice
    std::unique_ptr<Work> work;
  };
  void on_ready(size_t bucket);
  void launch_ready_in_order(bool in_backward);
  void launch(Bucket& b);

  bool overlap_ = true;
  GradReduce mode_;
  std::vector<Tensor> params_;
  std::vector<size_t> bucket_of_;
  std::vector<int64_t> offset_in_bucket_;
  std::vector<ShardPiece> pieces_;
  std::vector<Bucket> buckets_;
  Communicator& world_;
  int dp_size_;
  bool syncing_ = false;
  size_t next_launch_ = 0;
  int64_t launched_early_ = 0;
  // Hooks stay registered on the parameters; they check this so that a GradientSync destroyed
  // before its model leaves no dangling hook behind.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace st
