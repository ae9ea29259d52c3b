// Causal SimpleTRON attention, the sequential form (the CPU's; see simpletron.h): a loop over
// chunks of L tokens, never an N x N matrix. Per (batch, head), with the running state
// S = S0 + sum_{j < chunk start} k_j v_j^T:
//   O_c = Q_c S + tril(Q_c K_c^T) V_c,   y_t = s_t o_t
// Backward runs one pass forward (prefix states, for dQ) and one in reverse (suffix sums
// G = sum_{later chunks} Q^T dO, for dK, dV and dS0), so memory stays O(N + d_h^2).
#include <map>
#include <memory>

#include "core/ops/op_util.h"
#include "core/ops/simpletron/causal_args.h"

namespace st {

namespace {

// The (L, L) lower-triangle mask per chunk length, made once per call (at most two lengths: full
// and last chunk), so a device run copies a mask to the device once per length, not per chunk.
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

struct Chunks {
  int64_t n, size;
  int64_t count() const { return (n + size - 1) / size; }
  int64_t start(int64_t c) const { return c * size; }
  int64_t length(int64_t c) const { return std::min(size, n - c * size); }
};

}  // namespace

Tensor simpletron_causal_sequential(const Tensor& q, const Tensor& k, const Tensor& v,
                                    const Tensor& scales, int64_t chunk, const Tensor& initial_state) {
  detail::CausalSizes sz =
      detail::check_causal_args("simpletron_causal_sequential", q, k, v, scales, chunk, initial_state);
  int64_t B = sz.B, H = sz.H, N = sz.N, dh = sz.dh;
  Chunks ch{N, chunk};
  auto tril = std::make_shared<TrilMasks>(q.dtype(), q.device());
  Tensor Q, K, V, S0, s;
  Tensor y;
  {
    NoGradGuard ng;
    Q = q.detach().contiguous().reshape({B * H, N, dh});
    K = k.detach().contiguous().reshape({B * H, N, dh});
    V = v.detach().contiguous().reshape({B * H, N, dh});
    S0 = initial_state.defined() ? initial_state.detach().contiguous().reshape({B * H, dh, dh})
                                 : Tensor::zeros({B * H, dh, dh}, q.dtype(), q.device());
    s = scales.detach().contiguous().reshape({N, 1});
    Tensor S = S0;
    std::vector<Tensor> ys;
    for (int64_t c = 0; c < ch.count(); ++c) {
      int64_t c0 = ch.start(c), L = ch.length(c);
      Tensor Qc = Q.narrow(1, c0, L), Kc = K.narrow(1, c0, L), Vc = V.narrow(1, c0, L);
      Tensor A = mul(matmul(Qc, Kc.transpose(1, 2)), tril->get(L));
      Tensor O = add(matmul(Qc, S), matmul(A, Vc));
      ys.push_back(mul(O, s.narrow(0, c0, L)));
      if (c + 1 < ch.count()) S = add(S, matmul(Kc.transpose(1, 2), Vc));
    }
    y = (ys.size() == 1 ? ys[0] : concat(ys, 1)).reshape({B, H, N, dh});
  }
  bool has_s0 = initial_state.defined();
  return record(y, "simpletron_causal_sequential", {q, k, v, initial_state},
                [Q, K, V, S0, s, ch, B, H, N, dh, has_s0, tril](const Tensor& gy) {
    Tensor dO = mul(gy.contiguous().reshape({B * H, N, dh}), s);
    std::vector<Tensor> dq(ch.count()), dk(ch.count()), dv(ch.count());
    Tensor S = S0;
    for (int64_t c = 0; c < ch.count(); ++c) {  // prefix pass: dQ
      int64_t c0 = ch.start(c), L = ch.length(c);
      Tensor Kc = K.narrow(1, c0, L), Vc = V.narrow(1, c0, L), dOc = dO.narrow(1, c0, L);
      Tensor dA = mul(matmul(dOc, Vc.transpose(1, 2)), tril->get(L));
      dq[c] = add(matmul(dOc, S.transpose(1, 2)), matmul(dA, Kc));
      if (c + 1 < ch.count()) S = add(S, matmul(Kc.transpose(1, 2), Vc));
    }
    Tensor G = Tensor::zeros({B * H, dh, dh}, Q.dtype(), Q.device());
    for (int64_t c = ch.count() - 1; c >= 0; --c) {  // suffix pass: dK, dV, dS0
      int64_t c0 = ch.start(c), L = ch.length(c);
      Tensor Qc = Q.narrow(1, c0, L), Kc = K.narrow(1, c0, L), Vc = V.narrow(1, c0, L);
      Tensor dOc = dO.narrow(1, c0, L);
      const Tensor& tri = tril->get(L);
      Tensor A = mul(matmul(Qc, Kc.transpose(1, 2)), tri);
      Tensor dA = mul(matmul(dOc, Vc.transpose(1, 2)), tri);
      dk[c] = add(matmul(Vc, G.transpose(1, 2)), matmul(dA.transpose(1, 2), Qc));
      dv[c] = add(matmul(Kc, G), matmul(A.transpose(1, 2), dOc));
      G = add(G, matmul(Qc.transpose(1, 2), dOc));
    }
    auto join = [&](std::vector<Tensor>& parts) {
      return (parts.size() == 1 ? parts[0] : concat(parts, 1)).reshape({B, H, N, dh});
    };
    return std::vector<Tensor>{join(dq), join(dk), join(dv),
                               has_s0 ? G.reshape({B, H, dh, dh}) : Tensor()};
  });
}

}  // namespace st
