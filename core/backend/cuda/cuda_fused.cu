// CUDA fused kernels (f32, f64; contiguous): bias + activation over h (R, C) + b (C), forward
// and backward (the backward also from a bf16 h), and residual + dropout. Math in
// core/math/fused.h, shared with the CPU; outputs written (=). The backward writes dh and sums it into db in one pass: the column-sum kernel of
// cuda_reduce.cuh with a term that stores dh as it goes (fixed 256-row chunks and fixed trees,
// no atomics; chunk partials in double).
#include "core/backend/cuda/cuda_reduce.cuh"
#include "core/backend/global_index.h"
#include "core/backend/fused_functors.h"
#include "core/math/bf16.h"

#include <type_traits>

namespace st {

namespace {

using cuda::grid_for;
using cuda::kThreads;

// y[i] = f(h[i], b[i % C])
template <class T, class F>
__global__ void bias_act_kernel(const T* __restrict__ h, const T* __restrict__ b,
                                T* __restrict__ y, int64_t n, int64_t C, F f) {
  ST_CUDA_GRID_STRIDE(i, n) y[i] = f(h[i], b[i % C]);
}

// term(0, j, i) = dh(j, i), stored into dh as a side effect; each (j, i) is visited once.
// H: h's storage type (T, or bf16 under T = float).
template <class T, class G, class H>
struct BiasActGradTerm {
  const H* h;
  const T* b;
  const T* dy;
  T* dh;
  int64_t C;
  G grad;
  __device__ double operator()(int64_t, int64_t j, int64_t i) const {
    int64_t k = j * C + i;
    T d = grad(widen_as<T>(h[k]), b[i], dy[k]);
    dh[k] = d;
    return static_cast<double>(d);
  }
};

// x, residual, out: contiguous with the shape of `l`; element i draws the global index g(i)
// of `map`, numbered as in dropout_kernel (cuda_random.cu).
template <class T>
__global__ void dropout_add_kernel(const T* __restrict__ x, const T* __restrict__ residual,
                                   T* __restrict__ out, int64_t n, StridedLayout l,
                                   GlobalIndexMap map, RngKey key, float p, T keep_scale) {
  int nd = l.ndim;
  int64_t len = nd ? l.shape[nd - 1] : 1;
  DropoutAdd f;
  ST_CUDA_GRID_STRIDE(i, n) {
    int64_t g = global_index(map, l, i, len);
    bool keep = dropout_keep(key, static_cast<uint64_t>(g), p);
    out[i] = f(x[i], residual[i], keep, keep_scale);
  }
}

void check_bias_shapes(const char* op, const Tensor& h, const Tensor& b) {
  ST_CHECK(b.numel() > 0 && h.numel() % b.numel() == 0, op, ": bias ", b.shape(),
           " does not divide input ", h.shape());
}

}  // namespace

void CudaBackend::bias_act_forward(UnaryOp act, const Tensor& h, const Tensor& b,
                                   const Tensor& y) {
  check_bias_shapes("bias_act_forward", h, b);
  int64_t n = h.numel(), C = b.numel();
  if (n == 0) return;
  cuda::DeviceGuard guard(index_);
  cuda::dispatch_float(h.dtype(), "bias_act_forward", [&](auto tag) {
    using T = decltype(tag);
    with_bias_act(act, [&](auto f, auto) {
      bias_act_kernel<<<grid_for(n), kThreads, 0, stream_>>>(h.data<T>(), b.data<T>(),
                                                             y.data<T>(), n, C, f);
      ST_CUDA_CHECK_LAUNCH();
    });
  });
}

void CudaBackend::bias_act_backward(UnaryOp act, const Tensor& h, const Tensor& b,
                                    const Tensor& dy, const Tensor& dh, const Tensor& db) {
  check_bias_shapes("bias_act_backward", h, b);
  int64_t C = b.numel(), R = h.numel() / C;
  if (R == 0) {
    fill(db, 0.0);
    return;
  }
  bool h_bf16 = h.dtype() == DType::BF16;
  ST_CHECK(h.dtype() == dy.dtype() || (h_bf16 && dy.dtype() == DType::F32), "bias_act_backward: h ", h.dtype(),
           " with gradient ", dy.dtype(), " (h is the gradient's dtype, or bf16 with f32)");
  cuda::DeviceGuard guard(index_);
  cuda::dispatch_float(dy.dtype(), "bias_act_backward", [&](auto tag) {
    using T = decltype(tag);
    with_bias_act(act, [&](auto, auto grad) {
      using G = decltype(grad);
      if constexpr (std::is_same_v<T, float>) {
        if (h_bf16) {
          BiasActGradTerm<T, G, bf16> term{h.data<bf16>(), b.data<T>(), dy.data<T>(), dh.data<T>(), C, grad};
          cuda::axis_sum<double, T>(*this, term, /*outer=*/1, R, C, db.data<T>());
          return;
        }
      }
      BiasActGradTerm<T, G, T> term{h.data<T>(), b.data<T>(), dy.data<T>(), dh.data<T>(), C, grad};
      cuda::axis_sum<double, T>(*this, term, /*outer=*/1, R, C, db.data<T>());
    });
  });
}

void CudaBackend::dropout_add(const Tensor& x, const Tensor& residual, float p, const RngKey& key,
                              const GlobalIndexMap& map, const Tensor& out) {
  int64_t n = x.numel();
  if (n == 0) return;
  StridedLayout l = layout_of(x);
  ST_CHECK(map.ndim == 0 || map.ndim == l.ndim, "dropout_add: index map of rank ", map.ndim,
           " for a tensor of shape ", x.shape());
  ST_CHECK(residual.numel() == n && out.numel() == n, "dropout_add: x ", x.shape(),
           ", residual ", residual.shape(), " and out ", out.shape(), " differ in size");
  cuda::DeviceGuard guard(index_);
  cuda::dispatch_float(x.dtype(), "dropout_add", [&](auto tag) {
    using T = decltype(tag);
    T keep_scale = static_cast<T>(1.0 / (1.0 - static_cast<double>(p)));
    dropout_add_kernel<T><<<grid_for(n), kThreads, 0, stream_>>>(
        x.data<T>(), residual.data<T>(), out.data<T>(), n, l, map, key, p, keep_scale);
    ST_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace st
