// Elementwise arithmetic with broadcasting, scalar affine ops and masking, with backward rules.
// Broadcast inputs are passed to kernels as stride-0 views (no materialised copies); backward
// sums gradients over broadcast dimensions (sum_to).
#include "core/ops/op_util.h"

namespace st {

using detail::be;
using detail::check_same;
using detail::empty_like;

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    ST_CHECK(da == db || da == 1 || db == 1, op, ": shapes ", a, " and ", b,
             " cannot be broadcast together");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Tensor expand(const Tensor& x, const Shape& shape) {
  ST_CHECK(shape.size() >= x.shape().size(), "expand: cannot expand ", x.shape(), " to ", shape);
  size_t lead = shape.size() - x.shape().size();
  Strides strides(shape.size(), 0);
  for (size_t i = 0; i < x.shape().size(); ++i) {
    int64_t from = x.shape()[i], to = shape[lead + i];
    ST_CHECK(from == to || from == 1, "expand: cannot expand ", x.shape(), " to ", shape);
    strides[lead + i] = from == 1 ? 0 : x.strides()[i];
  }
  Tensor v = make_view(x, shape, strides, x.offset());
  Shape in_shape = x.shape();
  return record(v, "expand", {x}, [in_shape](const Tensor& g) {
    return std::vector<Tensor>{sum_to(g, in_shape)};
  });
}

Tensor sum_to(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  size_t lead = g.shape().size() - shape.size();
  std::vector<int> axes;
  for (size_t i = 0; i < g.shape().size(); ++i) {
    if (i < lead || (shape[i - lead] == 1 && g.shape()[i] != 1)) axes.push_back(static_cast<int>(i));
  }
  Tensor s = sum(g, axes, /*keepdim=*/true);
  return s.reshape(shape);
}

namespace {
Tensor binary_forward(BinaryOp op, const char* name, const Tensor& a, const Tensor& b) {
  check_same(name, a, b);
  detail::check_floating(name, a);
  Shape out_shape = broadcast_shapes(a.shape(), b.shape(), name);
  Tensor out = Tensor::empty(out_shape, a.dtype(), a.device());
  if (out.numel() == 0) return out;
  NoGradGuard ng;
  Tensor av = a.shape() == out_shape ? a : expand(a.detach(), out_shape);
  Tensor bv = b.shape() == out_shape ? b : expand(b.detach(), out_shape);
  be(out).binary(op, av, bv, out);
  return out;
}
}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::Add, "add", a, b);
  Shape sa = a.shape(), sb = b.shape();
  return record(out, "add", {a, b}, [sa, sb](const Tensor& g) {
    return std::vector<Tensor>{sum_to(g, sa), sum_to(g, sb)};
  });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::Sub, "sub", a, b);
  Shape sa = a.shape(), sb = b.shape();
  return record(out, "sub", {a, b}, [sa, sb](const Tensor& g) {
    return std::vector<Tensor>{sum_to(g, sa), sum_to(neg(g), sb)};
  });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::Mul, "mul", a, b);
  bool ga = a.requires_grad(), gb = b.requires_grad();
  Tensor sa = gb ? a.detach() : Tensor(), sb = ga ? b.detach() : Tensor();
  Shape sha = a.shape(), shb = b.shape();
  return record(out, "mul", {a, b}, [sa, sb, sha, shb](const Tensor& g) {
    return std::vector<Tensor>{sb.defined() ? sum_to(mul(g, sb), sha) : Tensor(),
                               sa.defined() ? sum_to(mul(g, sa), shb) : Tensor()};
  });
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::Div, "div", a, b);
  Tensor sa = a.detach(), sb = b.detach();
  Shape sha = a.shape(), shb = b.shape();
  bool gb = b.requires_grad();
  return record(out, "div", {a, b}, [sa, sb, sha, shb, gb](const Tensor& g) {
    Tensor ga = sum_to(div(g, sb), sha);
    Tensor gbv;
    if (gb) gbv = sum_to(neg(div(mul(g, sa), mul(sb, sb))), shb);  // -g a / b^2
    return std::vector<Tensor>{ga, gbv};
  });
}

namespace {
Tensor affine_op(const Tensor& x, double alpha, double beta, const char* name) {
  detail::check_floating(name, x);
  Tensor xc = x.contiguous();
  Tensor y = empty_like(x);
  if (y.numel() > 0) be(y).affine(xc, alpha, beta, y);
  return record(y, name, {x}, [alpha](const Tensor& g) {
    return std::vector<Tensor>{alpha == 1.0 ? g : scale(g, alpha)};
  });
}
}  // namespace

Tensor scale(const Tensor& x, double s) { return affine_op(x, s, 0.0, "scale"); }
Tensor add_scalar(const Tensor& x, double c) { return affine_op(x, 1.0, c, "add_scalar"); }
Tensor neg(const Tensor& x) { return affine_op(x, -1.0, 0.0, "neg"); }

Tensor masked_fill(const Tensor& x, const Tensor& mask, double value) {
  detail::check_floating("masked_fill", x);
  ST_CHECK(mask.defined() && mask.device() == x.device(),
           "masked_fill: mask must be on the device of x (", x.device(), ")");
  ST_CHECK(mask.dtype() == DType::I32 || mask.dtype() == x.dtype(),
           "masked_fill: mask dtype ", mask.dtype(), " must be i32 or x's dtype ", x.dtype());
  Shape bs = broadcast_shapes(x.shape(), mask.shape(), "masked_fill");
  ST_CHECK(bs == x.shape(), "masked_fill: mask of shape ", mask.shape(),
           " does not broadcast to x's shape ", x.shape());
  Tensor xc = x.contiguous();
  Tensor mv;
  {
    NoGradGuard ng;
    mv = expand(mask.detach(), x.shape());
  }
  Tensor y = empty_like(x);
  if (y.numel() > 0) be(y).masked_fill(xc, mv, value, y);
  return record(y, "masked_fill", {x}, [mv](const Tensor& g) {
    return std::vector<Tensor>{masked_fill(g, mv, 0.0)};
  });
}

}  // namespace st
