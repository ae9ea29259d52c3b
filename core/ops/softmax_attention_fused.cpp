// softmax_attention_fused: softmax attention as one cuDNN flash-attention kernel forward and one
// backward (backend/fused_attention.h). The f32 q, k, v are rounded to bf16 once, into the
// (B, N, H, d_h) memory order of the projections (viewed as (B, H, N, d_h)); the output is
// written back to f32 in that order, so the caller's head merge is a view. Masked keys:
// - padding at the end of every sequence (key lengths given): cuDNN's padding mask, from the
//   lengths (B, 1, 1, 1), O(B) memory. An example with no token gets length 1 for cuDNN and
//   output 0 (and no gradient) here.
// - padding anywhere (a key mask only): an additive bf16 bias (B, 1, Nq, Nk), 0 for kept keys and
//   kFusedAttentionMaskBias for masked ones: O(B Nq Nk) memory. A row whose keys are all masked
//   would average V under that bias; its log-sum-exp gives it away and its output and gradient
//   are set to 0, as softmax over -inf rows gives in the unfused path.
#include <string>

#include "core/backend/fused_attention.h"
#include "core/ops/op_util.h"

namespace st {

namespace {

// (B, H, n, d_h) view of a new (B, n, H, d_h) tensor.
Tensor heads_view(int64_t B, int64_t n, int64_t H, int64_t dh, DType t, Device dev) {
  return Tensor::empty({B, n, H, dh}, t, dev).permute({0, 2, 1, 3});
}

// (B, 1, Nq, Nk) bf16: kFusedAttentionMaskBias where key_mask (B, 1, 1, Nk) != 0, else 0.
Tensor key_bias(const Tensor& key_mask, int64_t Nq) {
  Backend& be = detail::be(key_mask);
  int64_t B = key_mask.size(0), Nk = key_mask.size(3);
  Tensor row = Tensor::zeros({B, 1, 1, Nk}, DType::F32, key_mask.device());
  Tensor filled = Tensor::empty({B, 1, 1, Nk}, DType::F32, key_mask.device());
  be.masked_fill(row, key_mask, kFusedAttentionMaskBias, filled);
  Tensor bias = Tensor::empty({B, 1, Nq, Nk}, DType::BF16, key_mask.device());
  be.copy(bias, expand(filled, {B, 1, Nq, Nk}));
  return bias;
}

// (B, H, Nq, 1) f32: 1 for rows with at least one unmasked key, 0 for the others.
Tensor nonempty_rows(const Tensor& stats) {
  Backend& be = detail::be(stats);
  Tensor shifted = detail::empty_like(stats), positive = detail::empty_like(stats);
  be.affine(stats, 1.0, -kFusedAttentionEmptyRowStats, shifted);  // > 0 on rows with a key
  be.unary(UnaryOp::Relu, shifted, positive);
  Tensor keep = Tensor::zeros(stats.shape(), DType::F32, stats.device());
  Tensor out = detail::empty_like(stats);
  be.masked_fill(keep, positive, 1.0, out);
  return out;
}

// y (B, H, N, d_h) view of (B, N, H, d_h) memory: y *= rows (B, H, N, 1), in place.
void scale_rows_in_place(const Tensor& y, const Tensor& rows) {
  Tensor y_bshd = y.permute({0, 2, 1, 3});  // contiguous (B, N, H, d_h)
  Tensor r = expand(rows.permute({0, 2, 1, 3}), y_bshd.shape());
  detail::be(y).binary(BinaryOp::Mul, y_bshd, r, y_bshd);
}

// (B, 1, 1, 1) i32 lengths in [0, Nk] -> cuDNN's seq_len_kv (0 raised to 1) and the f32 rows
// multiplier (0 for an example with no token).
void lengths_for_cudnn(const Tensor& key_lengths, Tensor& seq_len_kv, Tensor& rows) {
  Tensor empty = compare_scalar(key_lengths, CompareOp::Equal, 0, DType::F64);
  seq_len_kv = add(key_lengths.to(DType::F64), empty).to(DType::I32).contiguous();
  rows = compare_scalar(key_lengths, CompareOp::NotEqual, 0, DType::F32);
}

}  // namespace

std::string fused_softmax_attention_problem(const Tensor& q) {
  if (!q.defined() || q.dim() != 4) return "q must be a (B, H, N, d_h) tensor";
  if (q.numel() == 0) return detail::concat("q ", q.shape(), " is empty");
  return fused_softmax_attention_problem(q.dtype(), q.device(), q.size(3));
}

std::string fused_softmax_attention_problem(DType dtype, Device device, int64_t dh) {
  if (dtype != DType::F32)
    return detail::concat("q is ", dtype, "; the fused attention takes f32 activations");
  if (dh % 8 != 0 || dh <= 0 || dh > 128)
    return detail::concat("head dim d_h ", dh,
                          " is not supported by cuDNN fused attention (a multiple of 8, at most 128)");
  if (compute_precision() != Precision::BF16)
    return detail::concat("compute precision is ", precision_name(compute_precision()),
                          "; the fused attention computes in bf16 (precision: bf16)");
  if (!device.is_cuda())
    return detail::concat("q is on ", device, "; the fused attention runs on cuda");
  if (!cudnn_fused_attention_built())
    return "this build has no cuDNN fused attention (configure with "
           "-DST_CUDNN_FRONTEND_INCLUDE=$(bash scripts/cudnn_frontend.sh))";
  return cuda_fused_attention_device_problem(device.index);
}

bool fused_softmax_attention_available(const Tensor& q) {
  return fused_softmax_attention_problem(q).empty();
}

Tensor softmax_attention_fused(const Tensor& q, const Tensor& k, const Tensor& v,
                               const Tensor& key_mask, const Tensor& key_lengths, bool causal,
                               double scale, bool deterministic) {
  std::string problem = fused_softmax_attention_problem(q);
  ST_CHECK(problem.empty(), "softmax_attention_fused: ", problem);
  detail::check_same("softmax_attention_fused", q, k);
  detail::check_same("softmax_attention_fused", q, v);
  int64_t B = q.size(0), H = q.size(1), Nq = q.size(2), dh = q.size(3);
  ST_CHECK(k.dim() == 4 && k.size(0) == B && k.size(1) == H && k.size(3) == dh && k.size(2) > 0,
           "softmax_attention_fused: k ", k.shape(), " does not fit q ", q.shape(),
           " (expected (", B, ", ", H, ", Nk, ", dh, "), Nk > 0)");
  int64_t Nk = k.size(2);
  ST_CHECK(v.shape() == k.shape(), "softmax_attention_fused: v ", v.shape(), " differs from k ",
           k.shape());
  ST_CHECK(!causal || Nq == Nk, "softmax_attention_fused: causal attention needs as many queries ",
           "as keys, got q ", q.shape(), " and k ", k.shape());
  if (key_mask.defined()) {
    ST_CHECK(key_mask.dtype() == DType::I32 && key_mask.device() == q.device() &&
                 key_mask.shape() == Shape({B, 1, 1, Nk}),
             "softmax_attention_fused: key_mask must be i32 (", B, ", 1, 1, ", Nk, ") on ",
             q.device(), ", got ", key_mask.dtype(), " ", key_mask.shape(), " on ",
             key_mask.device());
  }
  if (key_lengths.defined()) {
    ST_CHECK(key_lengths.dtype() == DType::I32 && key_lengths.device() == q.device() &&
                 key_lengths.shape() == Shape({B, 1, 1, 1}),
             "softmax_attention_fused: key_lengths must be i32 (", B, ", 1, 1, 1) on ", q.device(),
             ", got ", key_lengths.dtype(), " ", key_lengths.shape(), " on ", key_lengths.device());
  }
  Device dev = q.device();
  Backend& be = detail::be(q);
  FusedAttentionArgs args;
  Tensor o, stats, out, rows;
  bool backward = grad_mode_enabled() && (q.requires_grad() || k.requires_grad() || v.requires_grad());
  {
    NoGradGuard no_grad;
    args.q = heads_view(B, Nq, H, dh, DType::BF16, dev);
    args.k = heads_view(B, Nk, H, dh, DType::BF16, dev);
    args.v = heads_view(B, Nk, H, dh, DType::BF16, dev);
    if (key_lengths.defined()) {
      lengths_for_cudnn(key_lengths, args.seq_len_kv, rows);
      args.seq_len_q = Tensor::full({B, 1, 1, 1}, static_cast<double>(Nq), DType::I32, dev);
    } else if (key_mask.defined()) {
      args.bias = key_bias(key_mask, Nq);
    }
    args.causal = causal;
    args.scale = scale;
    args.deterministic = deterministic;
    o = heads_view(B, Nq, H, dh, DType::BF16, dev);
    stats = Tensor::empty({B, H, Nq, 1}, DType::F32, dev);
    // Both graphs first: a shape cuDNN refuses (FusedAttentionRejected) runs unfused, forward and
    // backward, before anything was computed here.
    cuda_fused_attention_prepare(args, o, stats, backward);
    be.copy(args.q, q.detach());
    be.copy(args.k, k.detach());
    be.copy(args.v, v.detach());
    cuda_fused_attention_forward(args, o, stats);  // (B, H, Nq, d_h) bf16, (B, H, Nq, 1)
    out = heads_view(B, Nq, H, dh, DType::F32, dev);
    be.copy(out, o);
    if (args.bias.defined()) rows = nonempty_rows(stats);
    if (rows.defined()) scale_rows_in_place(out, rows);
  }
  return record(out, "softmax_attention_fused", {q, k, v},
                [args, o, stats, rows, B, H, Nq, Nk, dh](const Tensor& g) {
    NoGradGuard no_grad;
    Device dev = g.device();
    Backend& be = backend_for(dev);
    Tensor d_o = heads_view(B, Nq, H, dh, DType::BF16, dev);  // (B, H, Nq, d_h)
    if (rows.defined()) {  // empty rows pass no gradient
      Tensor gm = heads_view(B, Nq, H, dh, DType::F32, dev);
      Tensor gm_bshd = gm.permute({0, 2, 1, 3});
      be.binary(BinaryOp::Mul, g.permute({0, 2, 1, 3}),
                expand(rows.permute({0, 2, 1, 3}), gm_bshd.shape()), gm_bshd);
      be.copy(d_o, gm);
    } else {
      be.copy(d_o, g);
    }
    Tensor dq = heads_view(B, Nq, H, dh, DType::BF16, dev);
    Tensor dk = heads_view(B, Nk, H, dh, DType::BF16, dev);
    Tensor dv = heads_view(B, Nk, H, dh, DType::BF16, dev);
    if (args.seq_len_kv.defined()) {  // cuDNN leaves the rows of keys past each length unwritten
      be.fill(dk, 0.0);
      be.fill(dv, 0.0);
    }
    cuda_fused_attention_backward(args, o, d_o, stats, dq, dk, dv);
    auto to_f32 = [&](const Tensor& x, int64_t n) {
      Tensor t = heads_view(B, n, H, dh, DType::F32, dev);
      be.copy(t, x);
      return t;
    };
    return std::vector<Tensor>{to_f32(dq, Nq), to_f32(dk, Nk), to_f32(dv, Nk)};
  });
}

}  // namespace st
