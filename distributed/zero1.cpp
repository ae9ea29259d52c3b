// ShardedAdamW; see zero1.h.
#include "distributed/zero1.h"

#include "core/autograd/autograd.h"
#include "core/ops/ops.h"

namespace st {

ShardedAdamW::ShardedAdamW(const std::vector<std::pair<std::string, Tensor>>& params, GradientSync& sync,
                           const AdamWConfig& cfg)
    : sync_(sync) {
  ST_CHECK(sync.mode() == GradReduce::ReduceScatter, "ShardedAdamW: the gradient sync must reduce-scatter");
  for (const auto& [name, p] : params) {
    names_.push_back(name);
    params_.push_back(p);
  }
  params_of_bucket_.resize(sync.bucket_count());
  for (size_t k = 0; k < params_.size(); ++k) params_of_bucket_[sync.bucket_of(k)].push_back(k);
  // Each piece is an AdamW slot of its own, named after its parameter (weight decay goes by name).
  std::vector<std::pair<std::string, Tensor>> pieces;
  for (const ShardPiece& piece : sync.shard_pieces())
    pieces.emplace_back(names_[piece.param], flat_param(piece.param).narrow(0, piece.param_offset, piece.length));
  shard_ = std::make_unique<AdamW>(pieces, cfg);
}

Tensor ShardedAdamW::grad_sum_of_squares() {
  std::vector<Tensor> grads;
  for (const ShardPiece& piece : sync_.shard_pieces()) grads.push_back(sync_.shard_gradient(piece));
  Tensor total = sum_of_squares(grads);
  Device device = params_.empty() ? Device::cpu() : params_[0].device();
  total = total.to(device).contiguous();
  sync_.world().all_reduce_sum(total);
  return total;
}

void ShardedAdamW::clip_grads_to(double norm, double max_norm) {
  std::vector<Tensor> grads;
  for (const ShardPiece& piece : sync_.shard_pieces()) grads.push_back(sync_.shard_gradient(piece));
  scale_to_norm(grads, norm, max_norm);
}

void ShardedAdamW::step(double lr) {
  std::vector<Tensor> grads;
  for (const ShardPiece& piece : sync_.shard_pieces()) grads.push_back(sync_.shard_gradient(piece));
  shard_->step(lr, grads);
  if (sync_.world().size() == 1) return;  // the pieces are the whole parameters, updated in place
  const std::vector<ShardPiece>& pieces = sync_.shard_pieces();
  for (size_t bucket = 0; bucket < sync_.bucket_count(); ++bucket)
    sync_.all_gather_bucket(
        bucket,
        [&](const Tensor& slice) {
          for (const ShardPiece& piece : pieces)
            if (piece.bucket == bucket)
              copy_into(slice.narrow(0, piece.shard_offset, piece.length),
                        flat_param(piece.param).narrow(0, piece.param_offset, piece.length));
        },
        [&](const Tensor& flat) {
          for (size_t k : params_of_bucket_[bucket])
            copy_into(flat_param(k), flat.narrow(0, sync_.offset_in_bucket(k), params_[k].numel()));
        });
}

void ShardedAdamW::zero_grad() {
  for (Tensor& p : params_) p.zero_grad();
}

int64_t ShardedAdamW::state_bytes() const {
  int64_t bytes = 0;
  for (const AdamW::Slot& slot : shard_->slots()) bytes += (slot.m.numel() + slot.v.numel()) * 4;
  return bytes;
}

// One gradient bucket per next(): the ranks' slices of m, then of v, all-gathered; the bucket's
// parameters handed over with their m copied out of the bucket buffer, which v then fills.
class ShardedAdamW::Stream final : public MomentStream {
 public:
  explicit Stream(ShardedAdamW& opt) : opt_(opt) {}
  int64_t step() const override { return opt_.shard_->step_count(); }
  bool next(const Take& take) override {
    GradientSync& sync = opt_.sync_;
    if (bucket_ >= sync.bucket_count()) return false;
    size_t bucket = bucket_++;
    const std::vector<ShardPiece>& pieces = sync.shard_pieces();
    const std::vector<AdamW::Slot>& slots = opt_.shard_->slots();
    const std::vector<size_t>& params = opt_.params_of_bucket_[bucket];
    std::vector<Tensor> m(params.size());
    for (bool first : {true, false})
      sync.all_gather_bucket(
          bucket,
          [&](const Tensor& slice) {
            for (size_t i = 0; i < pieces.size(); ++i)
              if (pieces[i].bucket == bucket)
                copy_into(slice.narrow(0, pieces[i].shard_offset, pieces[i].length),
                          first ? slots[i].m : slots[i].v);
          },
          [&](const Tensor& flat) {
            for (size_t j = 0; j < params.size(); ++j) {
              size_t k = params[j];
              const Tensor& p = opt_.params_[k];
              Tensor part = flat.narrow(0, sync.offset_in_bucket(k), p.numel()).reshape(p.shape());
              if (first)
                m[j] = part.clone();
              else
                take(opt_.names_[k], m[j], part);
            }
          });
    return true;
  }

 private:
  ShardedAdamW& opt_;
  size_t bucket_ = 0;
};

std::unique_ptr<MomentStream> ShardedAdamW::moment_stream() { return std::make_unique<Stream>(*this); }

AdamWState ShardedAdamW::gathered_state(bool keep) {
  AdamWState st;
  st.step = shard_->step_count();
  std::vector<Tensor> m(params_.size()), v(params_.size());
  std::unique_ptr<MomentStream> stream = moment_stream();
  if (!keep) {
    skip_rest(*stream);
    return st;
  }
  while (stream->next([&](const std::string& name, const Tensor& mk, const Tensor& vk) {
    size_t k = 0;
    while (names_[k] != name) ++k;
    m[k] = mk.clone();
    v[k] = vk.clone();
  })) {
  }
  st.names = names_;
  st.m = std::move(m);
  st.v = std::move(v);
  return st;
}

void ShardedAdamW::load_state(const AdamWState& st) {
  // Everything is checked before anything changes.
  std::vector<size_t> at;
  for (size_t k = 0; k < params_.size(); ++k) {
    int64_t i = st.find(names_[k]);
    ST_CHECK(i >= 0, "optimizer state: no moments for parameter '", names_[k], "'");
    ST_CHECK(st.m[static_cast<size_t>(i)].numel() == params_[k].numel() &&
                 st.v[static_cast<size_t>(i)].numel() == params_[k].numel(),
             "optimizer state: moments of '", names_[k], "' are ", st.m[static_cast<size_t>(i)].shape(), ", not ",
             params_[k].shape());
    at.push_back(static_cast<size_t>(i));
  }
  NoGradGuard ng;
  const std::vector<ShardPiece>& pieces = sync_.shard_pieces();
  const std::vector<AdamW::Slot>& slots = shard_->slots();
  for (size_t i = 0; i < pieces.size(); ++i) {
    size_t from = at[pieces[i].param];
    Device d = slots[i].m.device();
    copy_into(slots[i].m, st.m[from].reshape({-1}).narrow(0, pieces[i].param_offset, pieces[i].length).to(d));
    copy_into(slots[i].v, st.v[from].reshape({-1}).narrow(0, pieces[i].param_offset, pieces[i].length).to(d));
  }
  shard_->set_step_count(st.step);
}

}  // namespace st
