// Attention masks and scales; see attention_masks.h.
#include "core/nn/attention_masks.h"

#include <cmath>
#include <vector>

#include "core/comm/communicator.h"
#include "core/ops/ops.h"

namespace st {

namespace {
double scale_for(ScaleMode mode, double n, double dh) {
  if (n <= 0) return 0.0;  // an example with no tokens: its state is zero anyway
  switch (mode) {
    case ScaleMode::SqrtN: return 1.0 / std::sqrt(n);
    case ScaleMode::SqrtNDh: return 1.0 / std::sqrt(n * dh);
    case ScaleMode::N: return 1.0 / n;
    case ScaleMode::None: return 1.0;
  }
  return 1.0;
}
}  // namespace

AttentionMasks make_attention_masks(const Tensor& ids, bool prepend_cls, const ModelConfig& cfg,
                                    DType dtype, Device device, const RunContext& ctx) {
  int64_t B = ids.size(0), N0 = ids.size(1), N = N0 + (prepend_cls ? 1 : 0);
  std::vector<int32_t> tok = ids.to_vector<int32_t>();
  std::vector<double> valid(B * N, 1.0), ex(B, 0.0), count(B, 0.0);
  std::vector<int32_t> pad(B * N, 0);
  bool any_pad = false;
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t t = 0; t < N; ++t) {
      int64_t src = t - (prepend_cls ? 1 : 0);
      bool is_pad = src >= 0 && tok[b * N0 + src] == 0;
      valid[b * N + t] = is_pad ? 0.0 : 1.0;
      pad[b * N + t] = is_pad ? 1 : 0;
      any_pad = any_pad || is_pad;
      count[b] += is_pad ? 0 : 1;
    }
  }
  if (ctx.sequence_parallel()) {  // n counts the tokens of the whole sequence
    Tensor c = Tensor::from_vector(count, {B});
    ctx.sp->all_reduce_sum(c);
    count = c.to_vector<double>();
  }
  for (int64_t b = 0; b < B; ++b) ex[b] = scale_for(cfg.scale, count[b], static_cast<double>(cfg.head_dim()));
  AttentionMasks m;
  auto to_dev = [&](const Tensor& t) { return t.to(dtype).to(device); };
  if (any_pad) {
    m.valid = to_dev(Tensor::from_vector(valid, {B, 1, N, 1}));
    m.key_padding = Tensor::from_vector(pad, {B, 1, 1, N}).to(device);
  }
  m.example_scale = to_dev(Tensor::from_vector(ex, {B, 1, 1, 1}));
  if (cfg.causal) {
    std::vector<double> ps(N);
    for (int64_t t = 0; t < N; ++t)
      ps[t] = scale_for(cfg.scale, static_cast<double>(ctx.seq_offset + t + 1),
                        static_cast<double>(cfg.head_dim()));
    m.position_scale = to_dev(Tensor::from_vector(ps, {N}));
    // Only the unfused softmax reads an (N, N) mask (N^2 int32 on the host and the device);
    // simpletron and the fused softmax (causal in its kernel) need none.
    if (cfg.attention == AttentionKind::Softmax &&
        !fused_softmax_attention_problem(dtype, device, cfg.head_dim()).empty())
      m.causal_mask = triangle_ones(N, Triangle::StrictUpper, DType::I32, device);
  }
  return m;
}

}  // namespace st
