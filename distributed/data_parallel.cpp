// GradientSync; see data_parallel.h.
#include "distributed/data_parallel.h"

#include <algorithm>

#include "core/autograd/autograd.h"
#include "core/ops/ops.h"

namespace st {

GradientSync::GradientSync(const std::vector<std::pair<std::string, Tensor>>& params,
                           Communicator& world, int dp_size, int64_t bucket_bytes, GradReduce mode)
    : mode_(mode), world_(world), dp_size_(dp_size) {
  ST_CHECK(bucket_bytes > 0, "distributed.bucket_mb: must be positive");
  ST_CHECK(dp_size >= 1, "GradientSync: dp size ", dp_size);
  for (auto& [name, p] : params) {
    ST_CHECK(p.dtype() == DType::F32, "GradientSync: parameter '", name, "' is ", p.dtype(), ", not f32");
    params_.push_back(p);
  }
  bucket_of_.resize(params_.size());
  offset_in_bucket_.resize(params_.size());
  Bucket cur;
  for (size_t k = params_.size(); k-- > 0;) {
    int64_t bytes = params_[k].numel() * 4;
    if (!cur.params.empty() && (cur.numel * 4 + bytes) > bucket_bytes) {
      buckets_.push_back(std::move(cur));
      cur = Bucket();
    }
    bucket_of_[k] = buckets_.size();
    offset_in_bucket_[k] = cur.numel;
    cur.params.push_back(k);
    cur.numel += params_[k].numel();
  }
  if (!cur.params.empty()) buckets_.push_back(std::move(cur));
  Device device = params_.empty() ? Device::cpu() : params_[0].device();
  int64_t w = world_.size(), me = world_.rank();
  for (size_t bi = 0; bi < buckets_.size(); ++bi) {
    Bucket& b = buckets_[bi];
    if (mode_ == GradReduce::AllReduce) {
      b.flat = Tensor::zeros({b.numel}, DType::F32, device);
      continue;
    }
    // Slice r of the padded bucket is [r * shard, (r + 1) * shard); this rank's pieces are the
    // parameters' overlaps with its slice.
    b.shard_numel = (b.numel + w - 1) / w;
    b.flat = Tensor::zeros({b.shard_numel * w}, DType::F32, device);
    // One rank: its slice is the whole bucket, reduced already.
    b.shard = w == 1 ? b.flat : Tensor::zeros({b.shard_numel}, DType::F32, device);
    int64_t lo = me * b.shard_numel, hi = std::min(lo + b.shard_numel, b.numel);
    for (size_t k : b.params) {
      int64_t begin = std::max(lo, offset_in_bucket_[k]), end = std::min(hi, offset_in_bucket_[k] + params_[k].numel());
      if (begin < end) pieces_.push_back({k, begin - offset_in_bucket_[k], end - begin, bi, begin - lo});
    }
  }
  for (size_t k = 0; k < params_.size(); ++k) {
    size_t bucket = bucket_of_[k];
    std::weak_ptr<bool> alive = alive_;
    params_[k].register_grad_ready_hook([this, bucket, alive](const Tensor&) {
      if (alive.lock()) on_ready(bucket);
    });
  }
}

GradientSync::~GradientSync() {
  alive_.reset();
  for (Bucket& b : buckets_)
    if (b.work) b.work->wait();
}

void GradientSync::begin_backward(bool sync) {
  syncing_ = sync;
  next_launch_ = 0;
  for (Bucket& b : buckets_) {
    b.ready = 0;
    b.work.reset();
  }
}

void GradientSync::on_ready(size_t bucket) {
  if (!syncing_ || !overlap_) return;
  ++buckets_[bucket].ready;
  launch_ready_in_order(/*in_backward=*/true);
  for (Bucket& b : buckets_)  // drive MPI progress
    if (b.work) b.work->test();
}

void GradientSync::launch_ready_in_order(bool in_backward) {
  while (next_launch_ < buckets_.size()) {
    Bucket& b = buckets_[next_launch_];
    if (in_backward && b.ready < static_cast<int>(b.params.size())) return;
    launch(b);
    if (in_backward) ++launched_early_;
    ++next_launch_;
  }
}

void GradientSync::launch(Bucket& b) {
  NoGradGuard ng;
  int64_t at = 0;
  for (size_t k : b.params) {
    Tensor slot = b.flat.narrow(0, at, params_[k].numel());
    Tensor g = params_[k].grad();
    if (g.defined()) copy_into(slot, g.reshape({-1}));
    else backend_for(slot.device()).fill(slot, 0.0);
    at += params_[k].numel();
  }
  if (mode_ == GradReduce::AllReduce) {
    b.work = world_.all_reduce_sum_async(b.flat);
  } else {
    if (b.flat.numel() > at) backend_for(b.flat.device()).fill(b.flat.narrow(0, at, b.flat.numel() - at), 0.0);  // padding
    b.work = world_.size() == 1 ? world_.all_reduce_sum_async(b.flat) : world_.reduce_scatter_sum_async(b.flat, b.shard);
  }
}

void GradientSync::finish() {
  ST_CHECK(syncing_, "GradientSync::finish: begin_backward(true) was not called for this step");
  launch_ready_in_order(/*in_backward=*/false);
  NoGradGuard ng;
  double inv = 1.0 / dp_size_;
  for (Bucket& b : buckets_) {
    b.work->wait();
    b.work.reset();
    if (mode_ == GradReduce::ReduceScatter) {
      copy_into(b.shard, scale(b.shard, inv));
      // The bucket holds what the update needs: the parameters' own gradients are dropped.
      for (size_t k : b.params) params_[k].zero_grad();
      continue;
    }
    int64_t at = 0;
    for (size_t k : b.params) {
      Tensor p = params_[k];
      Tensor avg = scale(b.flat.narrow(0, at, p.numel()), inv).reshape(p.shape());
      p.set_grad(avg.contiguous());
      at += p.numel();
    }
  }
  syncing_ = false;
}

Tensor GradientSync::shard_gradient(const ShardPiece& piece) const {
  ST_CHECK(mode_ == GradReduce::ReduceScatter, "GradientSync::shard_gradient: not sharded");
  return buckets_[piece.bucket].shard.narrow(0, piece.shard_offset, piece.length);
}

void GradientSync::all_gather_bucket(size_t bucket, const std::function<void(const Tensor&)>& fill,
                                     const std::function<void(const Tensor&)>& use) {
  ST_CHECK(mode_ == GradReduce::ReduceScatter, "GradientSync::all_gather_bucket: not sharded");
  ST_CHECK(bucket < buckets_.size(), "GradientSync::all_gather_bucket: bucket ", bucket, " of ", buckets_.size());
  NoGradGuard ng;
  Bucket& b = buckets_[bucket];
  ST_CHECK(!b.work, "GradientSync::all_gather_bucket: a gradient reduction is still in flight");
  backend_for(b.shard.device()).fill(b.shard, 0.0);
  fill(b.shard);
  if (world_.size() > 1) world_.all_gather(b.shard, b.flat);  // one rank: the slice is the bucket
  use(b.flat);
}

}  // namespace st
