// Causal SimpleTRON attention, the chunk-parallel form (CUDA's; see simpletron.h): every chunk
// at once, with a fixed number of batched GEMMs whatever N is (the sequential form runs a loop
// of small GEMMs per chunk, which on a GPU costs kernel launches, not arithmetic). With
// L = chunk, C = ceil(N / L) chunks (the last one padded with zero rows), per (batch, head):
//   S_c = K_c^T V_c                              (C, d_h, d_h)  chunk states, all chunks at once
//   P_c = S0 + sum_{c' < c} S_c'                 exclusive running sum over chunks (cumsum,
//                                                in double, f32 result)
//   O_c = Q_c P_c + tril(Q_c K_c^T) V_c,  y_t = s_t o_t
// Built from differentiable ops, so backward is theirs. Memory: the chunk states and prefixes
// (2 B H C d_h^2 values) and the intra-chunk scores (B H N L) are kept for backward, more than
// the sequential form's O(N + d_h^2). Every step is linear in N.
#include "core/ops/op_util.h"
#include "core/ops/simpletron/causal_args.h"

namespace st {

namespace {

// x (BH, N, d) -> (BH, C L, d): zero rows appended.
Tensor pad_rows(const Tensor& x, int64_t padded) {
  int64_t n = x.size(1);
  if (padded == n) return x;
  Tensor zeros = Tensor::zeros({x.size(0), padded - n, x.size(2)}, x.dtype(), x.device());
  return concat({x, zeros}, 1);
}

}  // namespace

Tensor simpletron_causal_chunk_parallel(const Tensor& q, const Tensor& k, const Tensor& v,
                                        const Tensor& scales, int64_t chunk,
                                        const Tensor& initial_state) {
  detail::CausalSizes sz =
      detail::check_causal_args("simpletron_causal_chunk_parallel", q, k, v, scales, chunk, initial_state);
  int64_t B = sz.B, H = sz.H, N = sz.N, dh = sz.dh;
  if (q.numel() == 0) return mul(q, scales.reshape({N, 1}));
  int64_t BH = B * H, L = std::min(chunk, N), C = (N + L - 1) / L, Np = C * L;
  auto chunks = [&](const Tensor& x) {  // (B, H, N, d_h) -> (BH, C, L, d_h)
    return pad_rows(x.reshape({BH, N, dh}), Np).reshape({BH, C, L, dh});
  };
  Tensor Q = chunks(q), K = chunks(k), V = chunks(v);
  Tensor states = matmul(K.transpose(2, 3), V);  // (BH, C, d_h, d_h), S_c
  // Exclusive running sum over chunks, in double (a scan, linear in C), kept in f32.
  Tensor prefix = cumsum(states, 1, /*exclusive=*/true);  // (BH, C, d_h, d_h), P_c
  if (initial_state.defined()) prefix = add(prefix, initial_state.reshape({BH, 1, dh, dh}));
  Tensor tril = triangle_ones(L, Triangle::Lower, q.dtype(), q.device());  // (L, L)
  Tensor scores = mul(matmul(Q, K.transpose(2, 3)), tril);                       // (BH, C, L, L)
  Tensor o = add(matmul(Q, prefix), matmul(scores, V));                          // (BH, C, L, d_h)
  o = o.reshape({BH, Np, dh});
  if (Np != N) o = o.narrow(1, 0, N);
  return mul(o.reshape({B, H, N, dh}), scales.reshape({N, 1}));
}

}  // namespace st
