// Matrix products. Operands whose last two dimensions are row-major or transposed (and whose
// batch dimensions collapse to one stride) go to the backend GEMM as they are; anything else is
// made contiguous first. Backward: dA = dC @ B^T, dB = A^T @ dC (summed over the batch when B
// is shared), using transposed views, not copies. linear(): y = x W^T + b as one GEMM whose
// output starts as the broadcast bias (beta = 1): no separate bias pass, no zeroing of C.
// Compute precision bf16 (precision.h): operands are rounded to bf16 once (weights, inputs
// and, in backward, output gradients) and every product writes f32; the backward rule uses
// the precision its forward ran with and keeps the bf16 copies it needs, not the f32 ones.
#include "core/ops/op_util.h"

namespace st {

namespace {

struct MatrixOperand {
  Tensor t;            // the tensor actually passed (maybe a contiguous copy)
  bool trans = false;  // stored transposed
  int64_t ld = 0;      // row stride as stored
  int64_t batch_stride = 0;
};

// Describes x (..., R, C) for GEMM; `batch` = product of leading dims.
MatrixOperand as_operand(const Tensor& x) {
  int n = x.dim();
  int64_t R = x.size(-2), C = x.size(-1);
  auto batch_ok = [&](const Tensor& t) {
    // Leading dims must collapse to a single stride (or be of size 1).
    int64_t expect = -1;
    for (int d = n - 3; d >= 0; --d) {
      if (t.shape()[d] == 1) continue;
      if (expect >= 0 && t.strides()[d] != expect) return false;
      expect = t.strides()[d] * t.shape()[d];
    }
    return true;
  };
  auto batch_stride = [&](const Tensor& t) {
    for (int d = n - 3; d >= 0; --d)
      if (t.shape()[d] != 1) return t.strides()[d];
    return int64_t(0);
  };
  int64_t s0 = x.stride(-2), s1 = x.stride(-1);
  if (batch_ok(x)) {
    if ((s1 == 1 || C == 1) && (s0 >= std::max<int64_t>(C, 1) || R == 1))
      return {x, false, std::max<int64_t>({s0, C, 1}), batch_stride(x)};
    if ((s0 == 1 || R == 1) && (s1 >= std::max<int64_t>(R, 1) || C == 1))
      return {x, true, std::max<int64_t>({s1, R, 1}), batch_stride(x)};
  }
  Tensor c = x.contiguous();
  return {c, false, std::max<int64_t>(C, 1), R * C};
}

// c (batch..., M, N) = a (..., M, K) @ b (..., K, N) or b (K, N). No autograd. bf16
// operands give an f32 c (bf16 products, f32 accumulation).
Tensor matmul_raw(const Tensor& a, const Tensor& b) {
  int64_t M = a.size(-2), K = a.size(-1), N = b.size(-1);
  Shape out_shape(a.shape().begin(), a.shape().end() - 2);
  out_shape.push_back(M);
  out_shape.push_back(N);
  bool mixed = a.dtype() == DType::BF16;
  Tensor c = Tensor::empty(out_shape, mixed ? DType::F32 : a.dtype(), a.device());
  if (c.numel() == 0) return c;
  if (K == 0) {
    detail::be(c).fill(c, 0.0);
    return c;
  }
  int64_t batch = numel_of(out_shape) / (M * N);
  GemmArgs g;
  g.m = M;
  g.n = N;
  g.k = K;
  g.dtype = a.dtype();
  g.c_f32 = mixed;
  g.c = c.raw_data();
  g.ldc = N;
  g.stride_c = M * N;
  g.batch = batch;
  MatrixOperand ob = as_operand(b);
  MatrixOperand oa;
  if (b.dim() == 2 && batch > 1 && a.is_contiguous()) {
    // Shared B and contiguous A: one GEMM of (batch*M, K) @ (K, N).
    g.m = batch * M;
    g.batch = 1;
    oa = MatrixOperand{a, false, K, 0};
  } else {
    oa = as_operand(a);
  }
  g.trans_a = oa.trans;
  g.a = oa.t.raw_data();
  g.lda = oa.ld;
  g.stride_a = oa.batch_stride;
  g.trans_b = ob.trans;
  g.b = ob.t.raw_data();
  g.ldb = ob.ld;
  g.stride_b = b.dim() == 2 ? 0 : ob.batch_stride;
  detail::be(c).gemm(g);
  return c;
}

}  // namespace

namespace detail {

void gemm_into(const Tensor& a, const Tensor& b, const Tensor& c, double beta) {
  ST_CHECK(a.dim() == 2 && b.dim() == 2 && c.dim() == 2 && a.size(1) == b.size(0) &&
               c.size(0) == a.size(0) && c.size(1) == b.size(1),
           "gemm_into: shapes do not fit: ", a.shape(), " @ ", b.shape(), " into ", c.shape());
  ST_CHECK(c.stride(1) == 1 || c.size(1) == 1, "gemm_into: output rows must be contiguous, got strides ",
           c.strides());
  int64_t M = c.size(0), N = c.size(1), K = a.size(1);
  if (M == 0 || N == 0) return;
  if (K == 0) {
    if (beta == 0.0) be(c).fill(c, 0.0);
    return;
  }
  MatrixOperand oa = as_operand(a), ob = as_operand(b);
  GemmArgs g;
  g.m = M;
  g.n = N;
  g.k = K;
  g.beta = beta;
  g.dtype = a.dtype();
  g.c_f32 = a.dtype() == DType::BF16;
  g.trans_a = oa.trans;
  g.a = oa.t.raw_data();
  g.lda = oa.ld;
  g.trans_b = ob.trans;
  g.b = ob.t.raw_data();
  g.ldb = ob.ld;
  g.c = c.raw_data();
  g.ldc = std::max<int64_t>(c.stride(0), N);
  be(c).gemm(g);
}

}  // namespace detail

Tensor matmul(const Tensor& a, const Tensor& b) {
  detail::check_same("matmul", a, b);
  detail::check_floating("matmul", a);
  ST_CHECK(a.dim() >= 2 && b.dim() >= 2, "matmul: operands need at least 2 dimensions, got ",
           a.shape(), " @ ", b.shape());
  ST_CHECK(a.size(-1) == b.size(-2), "matmul: inner sizes differ: ", a.shape(), " @ ", b.shape());
  if (b.dim() > 2) {
    ST_CHECK(a.dim() == b.dim() &&
                 std::equal(a.shape().begin(), a.shape().end() - 2, b.shape().begin()),
             "matmul: batch dimensions differ: ", a.shape(), " @ ", b.shape(),
             " (batch dims must be equal, or b 2-D)");
  }
  bool bf16 = detail::bf16_products(a);
  Tensor pa = detail::product_operand(a.detach(), bf16), pb = detail::product_operand(b.detach(), bf16);
  Tensor c = matmul_raw(pa, pb);
  bool ga = a.requires_grad(), gb = b.requires_grad();
  Tensor sa = gb ? pa : Tensor(), sb = ga ? pb : Tensor();
  bool shared_b = b.dim() == 2 && a.dim() > 2;
  return record(c, "matmul", {a, b}, [sa, sb, shared_b, bf16](const Tensor& g_out) {
    Tensor g = detail::product_operand(g_out, bf16);
    Tensor da, db;
    if (sb.defined()) da = matmul_raw(g, sb.transpose(-1, -2));
    if (sa.defined()) {
      if (shared_b) {
        int64_t K = sa.size(-1), N = g.size(-1);
        Tensor a2 = sa.contiguous().reshape({-1, K});
        Tensor g2 = g.contiguous().reshape({-1, N});
        db = matmul_raw(a2.transpose(0, 1), g2);
      } else {
        db = matmul_raw(sa.transpose(-1, -2), g);
      }
    }
    return std::vector<Tensor>{da, db};
  });
}

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  detail::check_same("linear", x, w);
  detail::check_floating("linear", x);
  ST_CHECK(w.dim() == 2 && x.dim() >= 1 && x.size(-1) == w.size(1), "linear: input ", x.shape(),
           " does not end in ", w.dim() == 2 ? w.size(1) : -1, " features (weight ", w.shape(), ")");
  if (!b.defined()) return matmul(x, w.transpose(0, 1));
  detail::check_same("linear", x, b);
  ST_CHECK(b.dim() == 1 && b.size(0) == w.size(0), "linear: bias ", b.shape(), " does not fit weight ",
           w.shape());
  int64_t in = w.size(1), out = w.size(0);
  Shape out_shape = x.shape();
  out_shape.back() = out;
  Tensor y = Tensor::empty(out_shape, x.dtype(), x.device());
  int64_t rows = in > 0 ? x.numel() / in : numel_of(out_shape) / std::max<int64_t>(out, 1);
  bool bf16 = detail::bf16_products(x);
  Tensor xc = detail::product_operand(x.detach().contiguous(), bf16);
  Tensor wd = detail::product_operand(w.detach(), bf16), bd = b.detach();
  if (y.numel() > 0) {
    NoGradGuard ng;
    detail::be(y).copy(y.reshape({rows, out}), expand(bd.reshape({1, out}), {rows, out}));  // y = b
    if (in > 0) {
      GemmArgs g;  // y (rows, out) += x (rows, in) @ W^T, W stored (out, in)
      g.m = rows;
      g.n = out;
      g.k = in;
      g.beta = 1.0;
      g.dtype = xc.dtype();
      g.c_f32 = bf16;
      g.a = xc.raw_data();
      g.lda = in;
      g.trans_b = true;
      Tensor wc = wd.contiguous();
      g.b = wc.raw_data();
      g.ldb = in;
      g.c = y.raw_data();
      g.ldc = out;
      detail::be(y).gemm(g);
    }
  }
  bool gx = x.requires_grad(), gw = w.requires_grad();
  Tensor sx = gw ? xc : Tensor(), sw = gx ? wd : Tensor();  // saved only where needed
  Shape x_shape = x.shape();
  return record(y, "linear", {x, w, b}, [sx, sw, x_shape, rows, in, out, bf16](const Tensor& g) {
    Tensor g2 = g.contiguous().reshape({rows, out});
    Tensor gp = detail::product_operand(g2, bf16);
    Tensor dx = sw.defined() ? matmul_raw(gp, sw).reshape(x_shape) : Tensor();  // (rows, in)
    Tensor dw = sx.defined() ? matmul_raw(gp.transpose(0, 1), sx.reshape({rows, in})) : Tensor();
    Tensor db = sum(g2, {0});                                             // (out), f32
    return std::vector<Tensor>{dx, dw, db};
  });
}

}  // namespace st
