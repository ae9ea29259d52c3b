// Non-causal SimpleTRON attention (see simpletron.h): the per-head state S = K^T V and output
// Y = Q S, forward and backward, read straight from the projection layout with no head permute:
// a tensor (B, N, H*c) holds head h of row n in columns [h*c, (h+1)*c), so head (b, h) is an
// (N, c) matrix at offset b*stride(0) + h*c with leading dimension stride(1). Each product is
// one GEMM per batch row b batched over the H heads (stride c), or, when B > H, one GEMM per
// head batched over the B rows (stride stride(0)), with lda/ldb/ldc addressing the strided head
// slices; outputs are written (=) directly in their final layout.
//   heads_state(k, v): S (B, H, dk, dv),  S_bh = K_bh^T V_bh
//   heads_apply(q, s): Y (B, N, H*dv),    Y_bh = Q_bh S_bh
// Compute precision bf16: operands are rounded to bf16 (contiguous copies) and every product,
// the state S included, is accumulated and written in f32.
#include "core/ops/op_util.h"

namespace st {

namespace {

// Head view of a (B, N, H*c) operand or (B, H, r, c) state: per-b and per-h offsets (elements),
// the leading dimension and whether the matrix is used transposed.
struct HeadMat {
  const Tensor* t;
  int64_t stride_b, stride_h, ld;
  bool trans;
};

HeadMat rows_of(const Tensor& x, int64_t c, bool trans) {  // x (B, N, H*c)
  return {&x, x.stride(0), c, x.stride(1), trans};
}

HeadMat state_of(const Tensor& s, bool trans) {  // s (B, H, r, c), contiguous
  return {&s, s.stride(0), s.stride(1), s.stride(2), trans};
}

// out_bh (=) op(A_bh) @ op(B_bh), (m, n) per head, for every (b, h).
void head_gemm(int64_t B, int64_t H, int64_t m, int64_t n, int64_t k, const HeadMat& a,
               const HeadMat& b, const HeadMat& out) {
  if (m == 0 || n == 0) return;
  const Tensor& c = *out.t;
  if (k == 0) {
    detail::be(c).fill(c, 0.0);
    return;
  }
  auto at = [](const Tensor& t, int64_t elements) {
    return static_cast<char*>(t.raw_data()) + elements * static_cast<int64_t>(dtype_size(t.dtype()));
  };
  // The (b, h) offsets are not one uniform stride, so one of the two indices is a loop and the
  // other the GEMM's batch: the loop runs over the smaller one (fewer, larger GEMM calls).
  bool loop_b = B <= H;
  int64_t loops = loop_b ? B : H;
  for (int64_t i = 0; i < loops; ++i) {
    auto offset = [&](const HeadMat& x) { return loop_b ? i * x.stride_b : i * x.stride_h; };
    auto batch_stride = [&](const HeadMat& x) { return loop_b ? x.stride_h : x.stride_b; };
    GemmArgs g;
    g.m = m;
    g.n = n;
    g.k = k;
    g.dtype = a.t->dtype();
    g.c_f32 = g.dtype == DType::BF16 && c.dtype() == DType::F32;
    g.batch = loop_b ? H : B;
    g.trans_a = a.trans;
    g.a = at(*a.t, offset(a));
    g.lda = a.ld;
    g.stride_a = batch_stride(a);
    g.trans_b = b.trans;
    g.b = at(*b.t, offset(b));
    g.ldb = b.ld;
    g.stride_b = batch_stride(b);
    g.c = at(c, offset(out));
    g.ldc = out.ld;
    g.stride_c = batch_stride(out);
    detail::be(c).gemm(g);
  }
}

// x (B, N, D) with unit column stride (row stride may exceed D); otherwise a contiguous copy.
Tensor rows_ready(const Tensor& x) {
  bool ok = x.stride(2) == 1 && x.stride(1) >= x.size(2) && x.stride(0) >= x.size(1) * x.stride(1);
  return ok ? x : x.contiguous();
}

void check_rows(const char* op, const Tensor& x, int64_t heads) {
  detail::check_floating(op, x);
  ST_CHECK(x.dim() == 3, op, ": expects (B, N, H*c), got ", x.shape());
  ST_CHECK(heads >= 1 && x.size(2) % heads == 0, op, ": ", x.size(2),
           " features do not split into ", heads, " heads");
}

}  // namespace

Tensor heads_state(const Tensor& k_in, const Tensor& v_in, int64_t H) {
  check_rows("heads_state", k_in, H);
  check_rows("heads_state", v_in, H);
  detail::check_same("heads_state", k_in, v_in);
  ST_CHECK(k_in.size(0) == v_in.size(0) && k_in.size(1) == v_in.size(1),
           "heads_state: k ", k_in.shape(), " and v ", v_in.shape(), " differ in (B, N)");
  int64_t B = k_in.size(0), N = k_in.size(1), dk = k_in.size(2) / H, dv = v_in.size(2) / H;
  bool bf16 = detail::bf16_products(k_in);
  Tensor k = detail::product_operand(rows_ready(k_in.detach()), bf16);
  Tensor v = detail::product_operand(rows_ready(v_in.detach()), bf16);
  Tensor s = Tensor::empty({B, H, dk, dv}, k_in.dtype(), k.device());
  head_gemm(B, H, dk, dv, N, rows_of(k, dk, true), rows_of(v, dv, false), state_of(s, false));
  bool gk = k_in.requires_grad(), gv = v_in.requires_grad();
  return record(s, "heads_state", {k_in, v_in}, [k, v, B, N, H, dk, dv, gk, gv, bf16](const Tensor& g) {
    Tensor ds = detail::product_operand(g.contiguous(), bf16);  // (B, H, dk, dv)
    DType out = g.dtype();
    Tensor dK, dV;
    if (gk) {  // dK_bh (N, dk) = V_bh dS_bh^T
      dK = Tensor::empty({B, N, H * dk}, out, ds.device());
      head_gemm(B, H, N, dk, dv, rows_of(v, dv, false), state_of(ds, true), rows_of(dK, dk, false));
    }
    if (gv) {  // dV_bh (N, dv) = K_bh dS_bh
      dV = Tensor::empty({B, N, H * dv}, out, ds.device());
      head_gemm(B, H, N, dv, dk, rows_of(k, dk, false), state_of(ds, false), rows_of(dV, dv, false));
    }
    return std::vector<Tensor>{dK, dV};
  });
}

Tensor heads_apply(const Tensor& q_in, const Tensor& s_in) {
  detail::check_same("heads_apply", q_in, s_in);
  ST_CHECK(s_in.dim() == 4, "heads_apply: state must be (B, H, dk, dv), got ", s_in.shape());
  int64_t H = s_in.size(1);
  check_rows("heads_apply", q_in, H);
  int64_t B = q_in.size(0), N = q_in.size(1), dk = q_in.size(2) / H, dv = s_in.size(3);
  ST_CHECK(s_in.size(0) == B && s_in.size(2) == dk, "heads_apply: state ", s_in.shape(),
           " does not fit q ", q_in.shape(), " with ", H, " heads");
  bool bf16 = detail::bf16_products(q_in);
  Tensor q = detail::product_operand(rows_ready(q_in.detach()), bf16);
  Tensor s = detail::product_operand(s_in.detach().contiguous(), bf16);
  Tensor y = Tensor::empty({B, N, H * dv}, q_in.dtype(), q.device());
  head_gemm(B, H, N, dv, dk, rows_of(q, dk, false), state_of(s, false), rows_of(y, dv, false));
  bool gq = q_in.requires_grad(), gs = s_in.requires_grad();
  return record(y, "heads_apply", {q_in, s_in}, [q, s, B, N, H, dk, dv, gq, gs, bf16](const Tensor& g) {
    Tensor dy = detail::product_operand(rows_ready(g), bf16);  // (B, N, H*dv)
    DType out = g.dtype();
    Tensor dQ, dS;
    if (gq) {  // dQ_bh (N, dk) = dY_bh S_bh^T
      dQ = Tensor::empty({B, N, H * dk}, out, dy.device());
      head_gemm(B, H, N, dk, dv, rows_of(dy, dv, false), state_of(s, true), rows_of(dQ, dk, false));
    }
    if (gs) {  // dS_bh (dk, dv) = Q_bh^T dY_bh
      dS = Tensor::empty({B, H, dk, dv}, out, dy.device());
      head_gemm(B, H, dk, dv, N, rows_of(q, dk, true), rows_of(dy, dv, false), state_of(dS, false));
    }
    return std::vector<Tensor>{dQ, dS};
  });
}

}  // namespace st
