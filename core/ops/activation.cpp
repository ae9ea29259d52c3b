// Activations (GELU tanh/erf, ReLU, tanh, exp, log, elu+1) with backward rules. The math is in
// core/math/activations.h; ops that differentiate from their output save y, the rest save x
// (GELU and ReLU in bf16 under precision bf16: op_util.h, "Activation storage").
#include "core/ops/op_util.h"

namespace st {

namespace {
// bf16_storage: the saved x may be kept in bf16 under precision bf16 (the FFN activations; not
// the ones inside attention kinds, whose outputs feed exp and the states).
Tensor unary_op(const Tensor& x, UnaryOp op, UnaryGradOp grad_op, bool grad_from_output,
                const char* name, bool bf16_storage = false) {
  detail::check_floating(name, x);
  Tensor xc = x.contiguous();
  Tensor y = detail::empty_like(x);
  if (y.numel() > 0) detail::be(y).unary(op, xc, y);
  bool bf16 = bf16_storage && detail::bf16_products(xc) && detail::records_backward({&x});
  Tensor saved = grad_from_output ? y.detach() : detail::stored(xc, bf16);
  DType dtype = x.dtype();
  return record(y, name, {x}, [saved, grad_op, dtype](const Tensor& g) {
    Tensor gc = g.contiguous(), s = detail::restored(saved, dtype);
    Tensor dx = detail::empty_like(s);
    if (dx.numel() > 0) detail::be(dx).unary_grad(grad_op, s, gc, dx);
    return std::vector<Tensor>{dx};
  });
}
}  // namespace

Tensor gelu(const Tensor& x, GeluKind kind) {
  return kind == GeluKind::Tanh
             ? unary_op(x, UnaryOp::GeluTanh, UnaryGradOp::GeluTanh, false, "gelu_tanh", true)
             : unary_op(x, UnaryOp::GeluErf, UnaryGradOp::GeluErf, false, "gelu_erf", true);
}
Tensor relu(const Tensor& x) { return unary_op(x, UnaryOp::Relu, UnaryGradOp::Relu, false, "relu", true); }
Tensor tanh(const Tensor& x) {
  return unary_op(x, UnaryOp::Tanh, UnaryGradOp::TanhFromY, true, "tanh");
}
Tensor exp(const Tensor& x) { return unary_op(x, UnaryOp::Exp, UnaryGradOp::ExpFromY, true, "exp"); }
Tensor log(const Tensor& x) { return unary_op(x, UnaryOp::Log, UnaryGradOp::Log, false, "log"); }
Tensor elu_plus_one(const Tensor& x) {
  return unary_op(x, UnaryOp::EluPlusOne, UnaryGradOp::EluPlusOne, false, "elu_plus_one");
}

}  // namespace st
