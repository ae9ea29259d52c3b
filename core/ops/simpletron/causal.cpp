// simpletron_causal: the checks shared by both causal forms, and the choice between them. The
// sequential loop over chunks keeps O(N + d_h^2) memory and suits the CPU; on CUDA a loop of
// small GEMMs costs kernel launches, so every chunk runs at once (causal_chunk_parallel.cpp).
#include "core/ops/simpletron/causal_args.h"
#include "core/ops/op_util.h"

namespace st {

namespace detail {

CausalSizes check_causal_args(const char* op, const Tensor& q, const Tensor& k, const Tensor& v,
                              const Tensor& scales, int64_t chunk, const Tensor& initial_state) {
  check_floating(op, q);
  check_same(op, q, k);
  check_same(op, q, v);
  check_same(op, q, scales);
  ST_CHECK(q.dim() == 4 && k.shape() == q.shape() && v.shape() == q.shape(), op,
           ": q, k, v must be equal (B, H, N, d_h), got ", q.shape(), ", ", k.shape(), ", ",
           v.shape());
  ST_CHECK(chunk >= 1, op, ": chunk size must be at least 1, got ", chunk);
  CausalSizes s{q.size(0), q.size(1), q.size(2), q.size(3)};
  ST_CHECK(scales.shape() == Shape{s.N}, op, ": scales must be (", s.N, "), got ", scales.shape());
  if (initial_state.defined()) {
    check_same(op, q, initial_state);
    ST_CHECK(initial_state.shape() == (Shape{s.B, s.H, s.dh, s.dh}), op, ": initial state must be (",
             s.B, ", ", s.H, ", ", s.dh, ", ", s.dh, "), got ", initial_state.shape());
  }
  return s;
}

}  // namespace detail

Tensor simpletron_causal(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& scales,
                         int64_t chunk, const Tensor& initial_state) {
  detail::check_floating("simpletron_causal", q);
  if (q.device().is_cuda()) return simpletron_causal_chunk_parallel(q, k, v, scales, chunk, initial_state);
  return simpletron_causal_sequential(q, k, v, scales, chunk, initial_state);
}

}  // namespace st
