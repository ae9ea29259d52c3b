// Causal SimpleTRON attention, the sequential form (the CPU's; see simpletron.h), in the
// projection layout: q, k, v (B, N, H*d_h) are read in place, head h being columns
// [h d_h, (h+1) d_h), and y is written in the same layout, so there are no head permutes, no
// per-chunk copies and no concatenation ((B, H, N, d_h) inputs are taken as one example of B*H
// heads, in place too). A loop over chunks of L tokens; in each, every GEMM is
// batched over the H heads (strided views into the rows of the chunk). Per example and head,
// with the running state S = S0 + sum_{j < chunk start} k_j v_j^T (H, d_h, d_h):
//   A_c  = tril(Q_c K_c^T)                     (H, L, L) intra-chunk scores
//   O_c  = A_c V_c (=), then += Q_c S          straight into y's rows of the chunk
//   S   += K_c^T V_c
// then y_t = s_t o_t. Backward, with dO = s dy (one value per row) and dA_c = tril(dO_c V_c^T):
//   reverse over chunks   dQ_c = dA_c K_c (=)
//                         dK_c = V_c G^T (=) + dA_c^T Q_c (+=)
//                         dV_c = K_c G (=) + A_c^T dO_c (+=)
//                         G   += Q_c^T dO_c  (G = the later chunks' sum; at the end it is dS0)
//   forward over chunks   dQ_c += dO_c S^T, S the running state as above
// (each chunk's scores A_c and dA_c are made once in backward: 10 chunk products, not 11).
// Memory: O(N + H d_h^2) beyond the inputs and outputs (one chunk's scores at a time).
#include <map>
#include <memory>

#include "core/ops/op_util.h"
#include "core/ops/simpletron/causal_args.h"

namespace st {

namespace {

// The (L, L) lower-triangle masks per chunk length, made once per call (at most two lengths: full
// and last chunk).
class TrilMasks {
 public:
  TrilMasks(DType dtype, Device device) : dtype_(dtype), device_(device) {}
  const Tensor& get(int64_t L) {
    auto it = masks_.find(L);
    if (it == masks_.end()) it = masks_.emplace(L, triangle_ones(L, Triangle::Lower, dtype_, device_)).first;
    return it->second;
  }

 private:
  DType dtype_;
  Device device_;
  std::map<int64_t, Tensor> masks_;
};

// One operand of a head-batched GEMM: the first head's matrix at `p` (row stride ld), the next
// head's `stride` elements further on; `trans`: the matrix is stored transposed.
struct Operand {
  const void* p;
  int64_t ld, stride;
  bool trans = false;
};

// Where the rows of each example and head lie in a contiguous q, k, v (and y, dq, dk, dv):
//   projection layout (B, N, H*d_h): row stride H d_h, head stride d_h,    example stride N H d_h
//   head-major (B, H, N, d_h):       row stride d_h,   head stride N d_h   (taken as one example
//                                    of B*H heads)
// The state (B, H, d_h, d_h) is contiguous in both: example b's heads at b H d_h^2.
struct Layout {
  int64_t B, N, H, dh;
  int64_t ld, head_stride, example_stride;
  DType dtype;
  size_t elem;
  // Element (example b, position t, head 0, column 0) of x.
  const void* row(const Tensor& x, int64_t b, int64_t t) const {
    return static_cast<const char*>(x.raw_data()) + static_cast<size_t>(b * example_stride + t * ld) * elem;
  }
  void* row(Tensor& x, int64_t b, int64_t t) const { return const_cast<void*>(row(static_cast<const Tensor&>(x), b, t)); }
  // Example b's (H, d_h, d_h) block of a (B, H, d_h, d_h) state.
  void* state(const Tensor& s, int64_t b) const {
    return static_cast<char*>(s.raw_data()) + static_cast<size_t>(b * H * dh * dh) * elem;
  }
  // A chunk's rows of every head as an operand, and the same transposed.
  Operand rows(const void* p) const { return {p, ld, head_stride}; }
  Operand rows_t(const void* p) const { return {p, ld, head_stride, true}; }
  Operand square(const void* p, int64_t n) const { return {p, n, n * n}; }          // (H, n, n)
  Operand square_t(const void* p, int64_t n) const { return {p, n, n * n, true}; }
};

// c_h (m, n) = a_h (m, k) @ b_h (k, n) + beta c_h for every head h: one batched GEMM.
void heads_gemm(Backend& be, const Layout& l, int64_t m, int64_t n, int64_t k, Operand a, Operand b,
                void* c, int64_t ldc, int64_t stride_c, double beta) {
  GemmArgs g;
  g.m = m;
  g.n = n;
  g.k = k;
  g.beta = beta;
  g.dtype = l.dtype;
  g.batch = l.H;
  g.trans_a = a.trans;
  g.a = a.p;
  g.lda = a.ld;
  g.stride_a = a.stride;
  g.trans_b = b.trans;
  g.b = b.p;
  g.ldb = b.ld;
  g.stride_b = b.stride;
  g.c = c;
  g.ldc = ldc;
  g.stride_c = stride_c;
  be.gemm(g);
}

struct Chunks {
  int64_t n, size;
  int64_t count() const { return (n + size - 1) / size; }
  int64_t start(int64_t c) const { return c * size; }
  int64_t length(int64_t c) const { return std::min(size, n - c * size); }
};

// tril(x_h y_h^T) for every head, x and y rows of one chunk (L rows): (H, L, L).
Tensor chunk_scores(Backend& be, const Layout& l, const void* x, const void* y, int64_t L, TrilMasks& tril) {
  Tensor a = Tensor::empty({l.H, L, L}, l.dtype, Device::cpu());
  heads_gemm(be, l, L, L, l.dh, l.rows(x), l.rows_t(y), a.raw_data(), L, L * L, 0.0);
  return mul(a, tril.get(L));
}

// S += K_c^T V_c for every head: a chunk of L rows added into the state at ps (H, d_h, d_h).
void add_chunk_state(Backend& be, const Layout& l, const void* kc, const void* vc, int64_t L, void* ps) {
  heads_gemm(be, l, l.dh, l.dh, L, l.rows_t(kc), l.rows(vc), ps, l.dh, l.dh * l.dh, 1.0);
}

// Example b's running state, starting from its initial state (or zeros): (1, H, d_h, d_h).
Tensor initial_state_of(const Tensor& S0, int64_t b, const Layout& l) {
  return S0.defined() ? S0.narrow(0, b, 1).clone() : Tensor::zeros({1, l.H, l.dh, l.dh}, l.dtype, Device::cpu());
}

// The sequential form on contiguous q, k, v laid out as `l` says; y and the gradients take q's
// shape. `op` names the entry point in errors and in the graph.
Tensor causal_sequential(const char* op, const Tensor& q, const Tensor& k, const Tensor& v, Layout l,
                         const Tensor& scales, int64_t chunk, const Tensor& initial_state) {
  ST_CHECK(q.device().is_cpu(), op, ": runs on the CPU (CUDA devices take the chunk-parallel form)");
  Chunks ch{l.N, chunk};
  Backend& be = detail::be(q);
  auto tril = std::make_shared<TrilMasks>(q.dtype(), q.device());
  Tensor Q, K, V, S0, s, y;
  {
    NoGradGuard ng;
    Q = q.detach().contiguous();
    K = k.detach().contiguous();
    V = v.detach().contiguous();
    S0 = initial_state.defined() ? initial_state.detach().contiguous().reshape({l.B, l.H, l.dh, l.dh}) : Tensor();
    s = scales.detach().contiguous().reshape({l.N, 1});
    Tensor O = detail::empty_like(Q);
    for (int64_t b = 0; b < l.B && O.numel() > 0; ++b) {
      Tensor S = initial_state_of(S0, b, l);
      void* ps = S.raw_data();
      for (int64_t c = 0; c < ch.count(); ++c) {
        int64_t c0 = ch.start(c), L = ch.length(c);
        const void *qc = l.row(Q, b, c0), *kc = l.row(K, b, c0), *vc = l.row(V, b, c0);
        void* oc = l.row(O, b, c0);
        Tensor A = chunk_scores(be, l, qc, kc, L, *tril);
        heads_gemm(be, l, L, l.dh, L, l.square(A.raw_data(), L), l.rows(vc), oc, l.ld, l.head_stride, 0.0);
        heads_gemm(be, l, L, l.dh, l.dh, l.rows(qc), l.square(ps, l.dh), oc, l.ld, l.head_stride, 1.0);
        if (c + 1 < ch.count()) add_chunk_state(be, l, kc, vc, L, ps);
      }
    }
    y = mul(O, s);  // y_t = s_t o_t; s (N, 1) meets the position axis in either layout
  }
  Shape state_shape = initial_state.defined() ? initial_state.shape() : Shape{};
  return record(y, op, {q, k, v, initial_state}, [Q, K, V, S0, s, ch, l, state_shape, tril](const Tensor& gy) {
    Backend& be = detail::be(Q);
    Tensor dO = mul(gy, s).contiguous();
    Tensor dQ = detail::empty_like(Q), dK = detail::empty_like(Q), dV = detail::empty_like(Q);
    Tensor dS0 = Tensor::zeros({l.B, l.H, l.dh, l.dh}, l.dtype, Q.device());
    for (int64_t b = 0; b < l.B && dO.numel() > 0; ++b) {
      void* pg = l.state(dS0, b);  // G, the sum over later chunks of Q^T dO
      for (int64_t c = ch.count() - 1; c >= 0; --c) {  // dK, dV, and dQ's intra-chunk term
        int64_t c0 = ch.start(c), L = ch.length(c);
        const void *qc = l.row(Q, b, c0), *kc = l.row(K, b, c0), *vc = l.row(V, b, c0), *doc = l.row(dO, b, c0);
        void *dqc = l.row(dQ, b, c0), *dkc = l.row(dK, b, c0), *dvc = l.row(dV, b, c0);
        Tensor A = chunk_scores(be, l, qc, kc, L, *tril);
        Tensor dA = chunk_scores(be, l, doc, vc, L, *tril);
        heads_gemm(be, l, L, l.dh, L, l.square(dA.raw_data(), L), l.rows(kc), dqc, l.ld, l.head_stride, 0.0);
        heads_gemm(be, l, L, l.dh, l.dh, l.rows(vc), l.square_t(pg, l.dh), dkc, l.ld, l.head_stride, 0.0);
        heads_gemm(be, l, L, l.dh, L, l.square_t(dA.raw_data(), L), l.rows(qc), dkc, l.ld, l.head_stride, 1.0);
        heads_gemm(be, l, L, l.dh, l.dh, l.rows(kc), l.square(pg, l.dh), dvc, l.ld, l.head_stride, 0.0);
        heads_gemm(be, l, L, l.dh, L, l.square_t(A.raw_data(), L), l.rows(doc), dvc, l.ld, l.head_stride, 1.0);
        heads_gemm(be, l, l.dh, l.dh, L, l.rows_t(qc), l.rows(doc), pg, l.dh, l.dh * l.dh, 1.0);
      }
      Tensor S = initial_state_of(S0, b, l);
      void* ps = S.raw_data();
      for (int64_t c = 0; c < ch.count(); ++c) {  // dQ's inter-chunk term, with the forward's states
        int64_t c0 = ch.start(c), L = ch.length(c);
        const void *kc = l.row(K, b, c0), *vc = l.row(V, b, c0), *doc = l.row(dO, b, c0);
        heads_gemm(be, l, L, l.dh, l.dh, l.rows(doc), l.square_t(ps, l.dh), l.row(dQ, b, c0), l.ld, l.head_stride,
                   1.0);
        if (c + 1 < ch.count()) add_chunk_state(be, l, kc, vc, L, ps);
      }
    }
    return std::vector<Tensor>{dQ, dK, dV, state_shape.empty() ? Tensor() : dS0.reshape(state_shape)};
  });
}

}  // namespace

Tensor simpletron_causal_heads_sequential(const Tensor& q, const Tensor& k, const Tensor& v, int64_t heads,
                                          const Tensor& scales, int64_t chunk, const Tensor& initial_state) {
  const char* op = "simpletron_causal_heads_sequential";
  detail::CausalSizes z = detail::check_causal_heads_args(op, q, k, v, heads, scales, chunk, initial_state);
  int64_t HD = z.H * z.dh;
  Layout l{z.B, z.N, z.H, z.dh, HD, z.dh, z.N * HD, q.dtype(), dtype_size(q.dtype())};
  return causal_sequential(op, q, k, v, l, scales, chunk, initial_state);
}

Tensor simpletron_causal_sequential(const Tensor& q, const Tensor& k, const Tensor& v,
                                    const Tensor& scales, int64_t chunk, const Tensor& initial_state) {
  const char* op = "simpletron_causal_sequential";
  detail::CausalSizes z = detail::check_causal_args(op, q, k, v, scales, chunk, initial_state);
  // One example of B*H heads, each N rows of d_h.
  Layout l{1, z.N, z.B * z.H, z.dh, z.dh, z.N * z.dh, z.B * z.H * z.N * z.dh, q.dtype(), dtype_size(q.dtype())};
  return causal_sequential(op, q, k, v, l, scales, chunk, initial_state);
}

}  // namespace st
