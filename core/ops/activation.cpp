// Activations (GELU tanh/erf, ReLU, tanh, exp, log, elu+1) with backward rules. The math is in
// core/math/activations.h; ops that differentiate from their output save y, the rest save x.
#include "core/ops/op_util.h"

namespace st {

namespace {
Tensor unary_op(const Tensor& x, UnaryOp op, UnaryGradOp grad_op, bool grad_from_output,
                const char* name) {
  detail::check_floating(name, x);
  Tensor xc = x.contiguous();
  Tensor y = detail::empty_like(x);
  if (y.numel() > 0) detail::be(y).unary(op, xc, y);
  Tensor saved = grad_from_output ? y.detach() : xc.detach();
  return record(y, name, {x}, [saved, grad_op](const Tensor& g) {
    Tensor gc = g.contiguous();
    Tensor dx = detail::empty_like(saved);
    if (dx.numel() > 0) detail::be(dx).unary_grad(grad_op, saved, gc, dx);
    return std::vector<Tensor>{dx};
  });
}
}  // namespace

Tensor gelu(const Tensor& x, GeluKind kind) {
  return kind == GeluKind::Tanh
             ? unary_op(x, UnaryOp::GeluTanh, UnaryGradOp::GeluTanh, false, "gelu_tanh")
             : unary_op(x, UnaryOp::GeluErf, UnaryGradOp::GeluErf, false, "gelu_erf");
}
Tensor relu(const Tensor& x) { return unary_op(x, UnaryOp::Relu, UnaryGradOp::Relu, false, "relu"); }
Tensor tanh(const Tensor& x) {
  return unary_op(x, UnaryOp::Tanh, UnaryGradOp::TanhFromY, true, "tanh");
}
Tensor exp(const Tensor& x) { return unary_op(x, UnaryOp::Exp, UnaryGradOp::ExpFromY, true, "exp"); }
Tensor log(const Tensor& x) { return unary_op(x, UnaryOp::Log, UnaryGradOp::Log, false, "log"); }
Tensor elu_plus_one(const Tensor& x) {
  return unary_op(x, UnaryOp::EluPlusOne, UnaryGradOp::EluPlusOne, false, "elu_plus_one");
}

}  // namespace st
