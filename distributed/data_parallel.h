// Gradient synchronisation for data (and sequence) parallelism: gradients are summed over the
// world in one all-reduce per bucket and divided by the DP size (averaged over DP, summed over
// SP). Buckets (about bucket_bytes each, parameters in reverse order, as backward produces
// them) are launched from grad-ready hooks while backward still runs, always in bucket order on
// every rank (a bucket waits for the ones before it); non-final micro-batches of gradient
// accumulation communicate nothing.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/comm/communicator.h"
#include "core/tensor/tensor.h"

namespace st {

class GradientSync {
 public:
  GradientSync(const std::vector<std::pair<std::string, Tensor>>& params, Communicator& world,
               int dp_size, int64_t bucket_bytes = 25 << 20);
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
  // gradients back (parameters without a gradient get one).
  void finish();

  size_t bucket_count() const { return buckets_.size(); }
  int64_t launched_early() const { return launched_early_; }  // buckets launched inside backward

 private:
  struct Bucket {
    std::vector<size_t> params;  // indices into params_
    int64_t numel = 0;
    int ready = 0;
    Tensor flat;
    std::unique_ptr<Work> work;
  };
  void on_ready(size_t bucket);
  void launch_ready_in_order(bool in_backward);
  void launch(Bucket& b);

  bool overlap_ = true;
  std::vector<Tensor> params_;
  std::vector<size_t> bucket_of_;
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
