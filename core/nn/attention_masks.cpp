// Attention masks and scales; see attention_masks.h.
#include "core/nn/attention_masks.h"

#include <vector>

#include "core/comm/communicator.h"
#include "core/ops/ops.h"

namespace st {

Tensor MaskCache::position_scale(const ModelConfig& cfg, int64_t n, int64_t offset, DType dtype, Device device) {
  auto key = std::make_tuple(n, offset, static_cast<int>(dtype), device.str());
  auto it = position_scales_.find(key);
  if (it != position_scales_.end()) return it->second;
  std::vector<double> ps(static_cast<size_t>(n));
  for (int64_t t = 0; t < n; ++t)
    ps[static_cast<size_t>(t)] = attention_scale(cfg.scale, static_cast<double>(offset + t + 1),
                                                 static_cast<double>(cfg.head_dim()));
  Tensor s = Tensor::from_vector(ps, {n}).to(dtype).to(device);
  position_scales_.emplace(key, s);
  return s;
}

Tensor MaskCache::causal_mask(int64_t n, Device device) {
  auto key = std::make_tuple(n, device.str());
  auto it = causal_masks_.find(key);
  if (it != causal_masks_.end()) return it->second;
  Tensor m = triangle_ones(n, Triangle::StrictUpper, DType::I32, device);
  causal_masks_.emplace(key, m);
  return m;
}

AttentionMasks make_attention_masks(const Tensor& ids, bool prepend_cls, const ModelConfig& cfg, DType dtype,
                                    Device device, const RunContext& ctx, MaskCache& cache) {
  int64_t B = ids.size(0), N0 = ids.size(1), N = N0 + (prepend_cls ? 1 : 0);
  Tensor dev_ids = ids.to(device);
  AttentionMasks m;
  Tensor count;  // (B) f64: the tokens of each example (here; the whole sequence after the SP sum)
  if (ctx.may_pad) {
    Tensor valid = compare_scalar(dev_ids, CompareOp::NotEqual, 0, DType::F64);  // (B, N0)
    Tensor padding = compare_scalar(dev_ids, CompareOp::Equal, 0, DType::I32);   // (B, N0)
    if (prepend_cls) {  // the CLS position is a token: valid, not padding
      valid = concat({Tensor::full({B, 1}, 1.0, DType::F64, device), valid}, 1);  // (B, N)
      padding = concat({Tensor::zeros({B, 1}, DType::I32, device), padding}, 1);
    }
    count = sum(valid, {1});
    m.valid = valid.to(dtype).reshape({B, 1, N, 1});
    m.key_padding = padding.reshape({B, 1, 1, N});
    if (ctx.padding_at_end && cfg.attention == AttentionKind::Softmax)
      m.key_lengths = count.to(DType::I32).reshape({B, 1, 1, 1});  // this rank's keys (no SP)
  } else {
    count = Tensor::full({B}, static_cast<double>(N), DType::F64, device);
  }
  if (ctx.sequence_parallel()) ctx.sp->all_reduce_sum(count);  // n counts the tokens of the whole sequence
  m.example_scale = attention_scale(count, cfg.scale, static_cast<double>(cfg.head_dim()), dtype).reshape({B, 1, 1, 1});
  if (cfg.causal) {
    m.position_scale = cache.position_scale(cfg, N, ctx.seq_offset, dtype, device);
    // Only the unfused softmax reads an (N, N) mask; simpletron and the fused softmax (causal in
    // its kernel) need none.
    if (cfg.attention == AttentionKind::Softmax &&
        !fused_softmax_attention_problem(dtype, device, cfg.head_dim()).empty())
      m.causal_mask = cache.causal_mask(N, device);
  }
  return m;
}

}  // namespace st
