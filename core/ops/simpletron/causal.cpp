// simpletron_causal and simpletron_causal_heads: the checks shared by the causal forms, and the
// choice between them. The sequential loop over chunks keeps O(N + d_h^2) memory and suits the
// CPU (causal_sequential.cpp); on CUDA a loop of small GEMMs costs kernel launches, so every
// chunk runs at once (causal_chunk_parallel.cpp).
#include "core/ops/simpletron/causal_args.h"
#include "core/ops/op_util.h"

namespace st {

namespace detail {

namespace {

// The checks both layouts share: dtypes and devices, equal q, k, v of `rank` dimensions, and, once
// the sizes are known (`sizes_of`), chunk, scales (N) and the initial state (B, H, d_h, d_h).
template <class Sizes>
CausalSizes check_common(const char* op, const Tensor& q, const Tensor& k, const Tensor& v, int rank,
                         const char* layout, const Tensor& scales, int64_t chunk, const Tensor& initial_state,
                         Sizes sizes_of) {
  check_floating(op, q);
  check_same(op, q, k);
  check_same(op, q, v);
  check_same(op, q, scales);
  ST_CHECK(q.dim() == rank && k.shape() == q.shape() && v.shape() == q.shape(), op, ": q, k, v must be equal ",
           layout, ", got ", q.shape(), ", ", k.shape(), ", ", v.shape());
  ST_CHECK(chunk >= 1, op, ": chunk size must be at least 1, got ", chunk);
  CausalSizes s = sizes_of();
  ST_CHECK(scales.shape() == Shape{s.N}, op, ": scales must be (", s.N, "), got ", scales.shape());
  if (initial_state.defined()) {
    check_same(op, q, initial_state);
    ST_CHECK(initial_state.shape() == (Shape{s.B, s.H, s.dh, s.dh}), op, ": initial state must be (",
             s.B, ", ", s.H, ", ", s.dh, ", ", s.dh, "), got ", initial_state.shape());
  }
  return s;
}

}  // namespace

CausalSizes check_causal_args(const char* op, const Tensor& q, const Tensor& k, const Tensor& v,
                              const Tensor& scales, int64_t chunk, const Tensor& initial_state) {
  return check_common(op, q, k, v, 4, "(B, H, N, d_h)", scales, chunk, initial_state, [&] {
    return CausalSizes{q.size(0), q.size(1), q.size(2), q.size(3)};
  });
}

CausalSizes check_causal_heads_args(const char* op, const Tensor& q, const Tensor& k, const Tensor& v,
                                    int64_t heads, const Tensor& scales, int64_t chunk,
                                    const Tensor& initial_state) {
  return check_common(op, q, k, v, 3, "(B, N, H*d_h)", scales, chunk, initial_state, [&] {
    ST_CHECK(heads >= 1 && q.size(2) % heads == 0, op, ": ", q.size(2), " columns do not split into ", heads,
             " heads");
    return CausalSizes{q.size(0), heads, q.size(1), q.size(2) / heads};
  });
}

}  // namespace detail

namespace {

// The chunk-parallel form where it is the one to run: on CUDA, and under compute precision bf16
// (its products are ops that round their operands; the sequential form multiplies in f32).
bool chunk_parallel_form(const Tensor& q) { return q.device().is_cuda() || detail::bf16_products(q); }

}  // namespace

Tensor simpletron_causal(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& scales,
                         int64_t chunk, const Tensor& initial_state) {
  detail::check_floating("simpletron_causal", q);
  if (chunk_parallel_form(q)) return simpletron_causal_chunk_parallel(q, k, v, scales, chunk, initial_state);
  return simpletron_causal_sequential(q, k, v, scales, chunk, initial_state);
}

Tensor simpletron_causal_heads(const Tensor& q, const Tensor& k, const Tensor& v, int64_t heads,
                               const Tensor& scales, int64_t chunk, const Tensor& initial_state) {
  detail::CausalSizes sz =
      detail::check_causal_heads_args("simpletron_causal_heads", q, k, v, heads, scales, chunk, initial_state);
  if (!chunk_parallel_form(q))
    return simpletron_causal_heads_sequential(q, k, v, heads, scales, chunk, initial_state);
  auto split = [&](const Tensor& x) {  // (B, N, H*d_h) -> (B, H, N, d_h), a view
    return x.reshape({sz.B, sz.N, sz.H, sz.dh}).permute({0, 2, 1, 3});
  };
  Tensor y = simpletron_causal_chunk_parallel(split(q), split(k), split(v), scales, chunk, initial_state);
  return y.permute({0, 2, 1, 3}).reshape({sz.B, sz.N, sz.H * sz.dh});
}

}  // namespace st
