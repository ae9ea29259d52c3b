// LayerNorm (fused forward and backward; under precision bf16 it saves its normalised input in
// bf16, op_util.h), softmax and log-softmax over the last axis.
// The kernels see (R, C) views of contiguous data: R = product of the leading dimensions.
#include "core/ops/op_util.h"

namespace st {

Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  detail::check_floating("layer_norm", x);
  detail::check_same("layer_norm", x, weight);
  detail::check_same("layer_norm", x, bias);
  ST_CHECK(x.dim() >= 1, "layer_norm: input must have at least one dimension");
  int64_t C = x.size(-1);
  ST_CHECK(weight.shape() == Shape{C} && bias.shape() == Shape{C}, "layer_norm: weight ",
           weight.shape(), " and bias ", bias.shape(), " must be (", C, ") for input ", x.shape());
  ST_CHECK(eps > 0, "layer_norm: eps must be positive, got ", eps);
  Tensor xc = x.contiguous(), wc = weight.contiguous(), bc = bias.contiguous();
  int64_t R = C ? x.numel() / C : 0;
  Tensor y = detail::empty_like(x);
  Tensor mu = Tensor::empty({R}, x.dtype(), x.device());
  Tensor rs = Tensor::empty({R}, x.dtype(), x.device());
  // Saved for backward: x, or under precision bf16 the normalised x̂ = (x - mean) / std in bf16,
  // written by the forward kernel and read by the backward one (O(1) values: a bf16 x would
  // lose the deviations from a large mean). The statistics stay f32.
  bool keep_xhat = detail::bf16_products(xc) && detail::records_backward({&x, &weight, &bias});
  Tensor saved = keep_xhat ? Tensor::empty(x.shape(), DType::BF16, x.device()) : xc.detach();
  Tensor xhat = saved.dtype() == DType::BF16 ? saved : Tensor();
  if (y.numel() > 0) detail::be(x).layer_norm_forward(xc, wc, bc, eps, y, mu, rs, xhat);
  Tensor sw = wc.detach();
  return record(y, "layer_norm", {x, weight, bias}, [saved, sw, mu, rs](const Tensor& g) {
    Tensor gc = g.contiguous();
    Tensor dx = Tensor::empty(saved.shape(), gc.dtype(), saved.device());
    Tensor dw = detail::empty_like(sw), db = detail::empty_like(sw);
    if (dx.numel() > 0) detail::be(saved).layer_norm_backward(saved, sw, mu, rs, gc, dx, dw, db);
    else {
      detail::be(sw).fill(dw, 0.0);
      detail::be(sw).fill(db, 0.0);
    }
    return std::vector<Tensor>{dx, dw, db};
  });
}

namespace {
Tensor softmax_op(const Tensor& x, SoftmaxKind kind, const char* name) {
  detail::check_floating(name, x);
  ST_CHECK(x.dim() >= 1, name, ": input must have at least one dimension");
  Tensor xc = x.contiguous();
  Tensor y = detail::empty_like(x);
  if (y.numel() > 0) detail::be(x).softmax_forward(kind, xc, y);
  Tensor sy = y.detach();
  return record(y, name, {x}, [sy, kind](const Tensor& g) {
    Tensor dx = detail::empty_like(sy);
    if (dx.numel() > 0) detail::be(sy).softmax_backward(kind, sy, g.contiguous(), dx);
    return std::vector<Tensor>{dx};
  });
}
}  // namespace

Tensor softmax(const Tensor& x) { return softmax_op(x, SoftmaxKind::Softmax, "softmax"); }
Tensor log_softmax(const Tensor& x) {
  return softmax_op(x, SoftmaxKind::LogSoftmax, "log_softmax");
}

}  // namespace st
