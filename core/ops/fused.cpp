// Fused ops: bias + GELU (h (..., C) + b (C), then GELU) and residual + dropout, each one kernel
// forward and one backward. bias_gelu saves h (in bf16 under precision bf16, op_util.h) and b
// (h + b is recomputed in backward);
// dropout_add saves nothing but the key (the mask is regenerated, as in dropout()).
#include "core/ops/op_util.h"

namespace st {

Tensor bias_gelu(const Tensor& h, const Tensor& b, GeluKind kind) {
  detail::check_same("bias_gelu", h, b);
  detail::check_floating("bias_gelu", h);
  ST_CHECK(h.dim() >= 1 && b.dim() == 1 && b.size(0) == h.size(-1), "bias_gelu: bias ",
           b.shape(), " must be (C) for input ", h.shape(), " (..., C)");
  UnaryOp act = kind == GeluKind::Tanh ? UnaryOp::GeluTanh : UnaryOp::GeluErf;
  Tensor hc = h.detach().contiguous(), bc = b.detach().contiguous();
  Tensor y = detail::empty_like(h);
  if (y.numel() > 0) detail::be(y).bias_act_forward(act, hc, bc, y);
  // bf16 under precision bf16, when a backward is recorded
  Tensor saved = detail::stored(hc, detail::bf16_products(hc) && detail::records_backward({&h, &b}));
  DType dtype = h.dtype();
  return record(y, kind == GeluKind::Tanh ? "bias_gelu_tanh" : "bias_gelu_erf", {h, b},
                [saved, bc, act, dtype](const Tensor& g) {
                  // The kernel reads a bf16 h directly (no f32 copy while the backward runs).
                  Tensor gc = g.contiguous();
                  Tensor dh = Tensor::empty(saved.shape(), dtype, saved.device()), db = detail::empty_like(bc);
                  detail::be(dh).bias_act_backward(act, saved, bc, gc, dh, db);
                  return std::vector<Tensor>{dh, db};
                });
}

Tensor dropout_add(const Tensor& x, const Tensor& residual, float p, const RngKey& key,
                   const GlobalIndexMap& map) {
  detail::check_same("dropout_add", x, residual);
  detail::check_floating("dropout_add", x);
  ST_CHECK(x.shape() == residual.shape(), "dropout_add: x ", x.shape(), " and residual ",
           residual.shape(), " must have one shape");
  ST_CHECK(p >= 0.0f && p < 1.0f, "dropout_add: probability must be in [0, 1), got ", p);
  ST_CHECK(map.ndim == 0 || map.ndim == x.dim(), "dropout_add: index map of rank ", map.ndim,
           " for a tensor of shape ", x.shape());
  if (p == 0.0f) return add(residual, x);
  Tensor xc = x.detach().contiguous(), rc = residual.detach().contiguous();
  Tensor y = detail::empty_like(x);
  if (y.numel() > 0) detail::be(y).dropout_add(xc, rc, p, key, map, y);
  return record(y, "dropout_add", {x, residual}, [p, key, map](const Tensor& g) {
    Tensor gc = g.contiguous();
    Tensor dx = detail::empty_like(gc);
    if (dx.numel() > 0) detail::be(gc).dropout(gc, p, key, map, dx);
    return std::vector<Tensor>{dx, g};
  });
}

}  // namespace st
