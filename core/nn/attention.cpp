// Attention kinds; see attention.h. No N x N matrix is formed by simpletron or linear_elu.
#include "core/nn/attention.h"

#include <cmath>
#include <cstdio>

#include "core/backend/fused_attention.h"
#include "core/comm/communicator.h"

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

// (N, N) i32 on `device`, 1 above the diagonal (key j > query i): the causal mask of the
// unfused softmax attention.
Tensor causal_mask_tensor(int64_t N, Device device) {
  std::vector<int32_t> cm(static_cast<size_t>(N * N), 0);
  for (int64_t i = 0; i < N; ++i)
    for (int64_t j = i + 1; j < N; ++j) cm[i * N + j] = 1;
  return Tensor::from_vector(cm, {N, N}).to(device);
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
      m.causal_mask = causal_mask_tensor(N, device);
  }
  return m;
}

Attention::Attention(const ModelConfig& cfg, InitStream& init)
    : cfg_(cfg), state_drop_(cfg.state_dropout, init) {
  int64_t d = cfg.d_model, dq = cfg.qkv_dim();
  q = register_module("q", std::make_unique<Linear>(d, dq, true, init));
  k = register_module("k", std::make_unique<Linear>(d, dq, true, init));
  v = register_module("v", std::make_unique<Linear>(d, dq, true, init));
  if (cfg.out_proj) o = register_module("o", std::make_unique<Linear>(dq, d, true, init));
}

Tensor Attention::forward(const Tensor& x, const AttentionMasks& m, const RunContext& ctx,
                          int64_t query_rows) const {
  ST_CHECK(!(ctx.sequence_parallel() && cfg_.attention == AttentionKind::Softmax),
           "model.attention: softmax attention does not support sequence parallelism (sp > 1)");
  ST_CHECK(query_rows < 0 || (!cfg_.causal && query_rows <= x.size(1)),
           "attention: query_rows ", query_rows, " needs non-causal attention and at most ",
           x.size(1), " rows");
  int64_t B = x.size(0), N = x.size(1), H = cfg_.heads, dh = cfg_.head_dim();
  Tensor xq = query_rows >= 0 ? x.narrow(1, 0, query_rows) : x;  // (B, Nq, d)
  bool row_layout = (cfg_.attention == AttentionKind::SimpleTron && !cfg_.causal) ||
                    cfg_.attention == AttentionKind::LinearElu;
  if (row_layout) {  // heads read in place from the (B, N, H*d_h) projections: no permutes
    Tensor Q = q->forward(xq), K = k->forward(x), V = v->forward(x);
    Tensor valid = m.valid.defined() ? m.valid.reshape({B, N, 1}) : Tensor();
    Tensor Y = cfg_.attention == AttentionKind::SimpleTron ? simpletron_rows(Q, K, V, valid, m, ctx)
                                                           : linear_elu_rows(Q, K, V, valid, ctx);
    return o ? o->forward(Y) : Y;
  }
  auto heads = [&](const Tensor& t) { return t.reshape({B, t.size(1), H, dh}).permute({0, 2, 1, 3}); };
  Tensor Q = heads(q->forward(xq)), K = heads(k->forward(x)), V = heads(v->forward(x));
  Tensor Y;  // (B, H, N, d_h)
  switch (cfg_.attention) {
    case AttentionKind::SimpleTron: Y = simpletron(Q, K, V, m, ctx); break;
    case AttentionKind::Softmax: Y = softmax_attention(Q, K, V, m); break;
    case AttentionKind::LinearElu: break;  // always in the row layout above
  }
  Tensor out = Y.permute({0, 2, 1, 3}).reshape({B, Q.size(2), H * dh});
  return o ? o->forward(out) : out;
}

Tensor Attention::simpletron(const Tensor& Q, const Tensor& K0, const Tensor& V0,
                             const AttentionMasks& m, const RunContext& ctx) const {
  Tensor K = m.valid.defined() ? mul(K0, m.valid) : K0;  // padding zeroed in K and V
  Tensor V = m.valid.defined() ? mul(V0, m.valid) : V0;
  if (cfg_.causal) {
    // Earlier ranks' tokens enter as the initial state: the sum of their K^T V.
    Tensor S0;
    if (ctx.sequence_parallel()) S0 = exclusive_prefix_sum(matmul(K.transpose(2, 3), V), *ctx.sp);
    return simpletron_causal(Q, K, V, m.position_scale, cfg_.chunk, S0);
  }
  Tensor S = matmul(K.transpose(2, 3), V);               // (B, H, d_h, d_h)
  if (ctx.sequence_parallel()) S = all_reduce_sum(S, *ctx.sp);  // the only communication
  S = mul(S, m.example_scale);
  S = state_drop_.forward(S, ctx, training(), /*sequence_axis=*/false);
  return matmul(Q, S);
}

Tensor Attention::simpletron_rows(const Tensor& Q, const Tensor& K0, const Tensor& V0,
                                  const Tensor& valid, const AttentionMasks& m,
                                  const RunContext& ctx) const {
  Tensor K = valid.defined() ? mul(K0, valid) : K0;  // padding zeroed in K and V
  Tensor V = valid.defined() ? mul(V0, valid) : V0;
  Tensor S = heads_state(K, V, cfg_.heads);                      // (B, H, d_h, d_h)
  if (ctx.sequence_parallel()) S = all_reduce_sum(S, *ctx.sp);  // the only communication
  S = mul(S, m.example_scale);
  S = state_drop_.forward(S, ctx, training(), /*sequence_axis=*/false);
  return heads_apply(Q, S);                                      // (B, N, H*d_h)
}

Tensor Attention::linear_elu_rows(const Tensor& Q, const Tensor& K, const Tensor& V,
                                  const Tensor& valid, const RunContext& ctx) const {
  int64_t B = Q.size(0), N = Q.size(1), H = cfg_.heads, dh = cfg_.head_dim();
  Tensor fq = elu_plus_one(Q);
  Tensor fk = elu_plus_one(K);
  if (valid.defined()) fk = mul(fk, valid);
  Tensor S = heads_state(fk, V, H);                              // (B, H, d_h, d_h)
  Tensor z = sum(fk, {1}, /*keepdim=*/true);                     // (B, 1, H*d_h)
  if (ctx.sequence_parallel()) {
    S = all_reduce_sum(S, *ctx.sp);
    z = all_reduce_sum(z, *ctx.sp);
  }
  Tensor den = add_scalar(heads_apply(fq, z.reshape({B, H, dh, 1})), 1e-6);  // (B, N, H)
  Tensor num = heads_apply(fq, S).reshape({B, N, H, dh});
  return div(num, den.reshape({B, N, H, 1})).reshape({B, N, H * dh});
}

Tensor Attention::softmax_attention(const Tensor& Q, const Tensor& K, const Tensor& V,
                                    const AttentionMasks& m) const {
  double s = 1.0 / std::sqrt(double(cfg_.head_dim()));
  // On CUDA under bf16 compute precision: one cuDNN flash-attention kernel, no (B, H, N, N).
  // Should cuDNN refuse this shape, the attention says so once and runs unfused from then on.
  if (fused_softmax_attention_available(Q)) {
    try {
      return softmax_attention_fused(Q, K, V, m.key_padding, cfg_.causal, s);
    } catch (const FusedAttentionRejected& e) {
      reject_fused_softmax_attention(e.what());
      std::fprintf(stderr, "softmax attention: %s; running the unfused softmax attention from now on\n", e.what());
    }
  }
  Tensor scores = scale(matmul(Q, K.transpose(2, 3)), s);
  if (m.key_padding.defined()) scores = masked_fill(scores, m.key_padding, -INFINITY);
  if (cfg_.causal)  // built here when make_attention_masks expected the fused path
    scores = masked_fill(
        scores, m.causal_mask.defined() ? m.causal_mask : causal_mask_tensor(Q.size(2), Q.device()),
        -INFINITY);
  return matmul(softmax(scores), V);  // (B, H, N, N) only here, for the baseline
}

}  // namespace st
