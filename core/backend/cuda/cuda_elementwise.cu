// CUDA elementwise kernels (f32, f64): activations and their gradients (functors of
// core/math/activations.h), affine, broadcast binary ops over strided views, masked fill, and
// accumulate (the only one that adds: dst +=). Outputs are contiguous; others write (=).
#include "core/backend/cuda/cuda_common.cuh"
#include "core/backend/op_functors.h"
#include "core/math/activations.h"

namespace st {

namespace {

using cuda::grid_for;
using cuda::kThreads;

template <class T, class F>
__global__ void map_unary_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t n, F f) {
  ST_CUDA_GRID_STRIDE(i, n) y[i] = f(x[i]);
}

template <class T, class F>
__global__ void map_binary_kernel(const T* __restrict__ a, const T* __restrict__ b,
                                  T* __restrict__ y, int64_t n, F f) {
  ST_CUDA_GRID_STRIDE(i, n) y[i] = f(a[i], b[i]);
}

template <class T, class F>
__global__ void map_binary_strided_kernel(const T* a, StridedLayout la, const T* b,
                                          StridedLayout lb, T* __restrict__ y, int64_t n, F f) {
  ST_CUDA_GRID_STRIDE(i, n) {
    y[i] = f(a[cuda::strided_offset(la, i)], b[cuda::strided_offset(lb, i)]);
  }
}

template <class T>
struct AffineF {
  T alpha, beta;
  __device__ T operator()(T v) const { return alpha * v + beta; }
};


template <class T, class M>
__global__ void masked_fill_kernel(const T* __restrict__ x, const M* mask, StridedLayout lm,
                                   T value, T* __restrict__ out, int64_t n) {
  ST_CUDA_GRID_STRIDE(i, n) out[i] = mask[cuda::strided_offset(lm, i)] != M(0) ? value : x[i];
}

template <class T>
__global__ void accumulate_kernel(T* __restrict__ dst, const T* __restrict__ src, int64_t n) {
  ST_CUDA_GRID_STRIDE(i, n) dst[i] += src[i];
}

}  // namespace

void CudaBackend::unary(UnaryOp op, const Tensor& x, const Tensor& y) {
  int64_t n = x.numel();
  if (n == 0) return;
  cuda::DeviceGuard guard(index_);
  cuda::dispatch_float(x.dtype(), "unary", [&](auto tag) {
    using T = decltype(tag);
    with_unary(op, [&](auto f) {
      map_unary_kernel<<<grid_for(n), kThreads, 0, stream_>>>(x.data<T>(), y.data<T>(), n, f);
      ST_CUDA_CHECK_LAUNCH();
    });
  });
}

void CudaBackend::unary_grad(UnaryGradOp op, const Tensor& x, const Tensor& dy,
                             const Tensor& dx) {
  int64_t n = x.numel();
  if (n == 0) return;
  cuda::DeviceGuard guard(index_);
  cuda::dispatch_float(x.dtype(), "unary_grad", [&](auto tag) {
    using T = decltype(tag);
    with_unary_grad(op, [&](auto f) {
      map_binary_kernel<<<grid_for(n), kThreads, 0, stream_>>>(x.data<T>(), dy.data<T>(),
                                                                dx.data<T>(), n, f);
      ST_CUDA_CHECK_LAUNCH();
    });
  });
}

void CudaBackend::affine(const Tensor& x, double alpha, double beta, const Tensor& y) {
  int64_t n = x.numel();
  if (n == 0) return;
  cuda::DeviceGuard guard(index_);
  cuda::dispatch_float(x.dtype(), "affine", [&](auto tag) {
    using T = decltype(tag);
    AffineF<T> f{static_cast<T>(alpha), static_cast<T>(beta)};
    map_unary_kernel<<<grid_for(n), kThreads, 0, stream_>>>(x.data<T>(), y.data<T>(), n, f);
    ST_CUDA_CHECK_LAUNCH();
  });
}

void CudaBackend::binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  int64_t n = out.numel();
  if (n == 0) return;
  ST_CHECK(a.shape() == out.shape() && b.shape() == out.shape(), "binary: operand views ",
           a.shape(), " and ", b.shape(), " must have the output's shape ", out.shape());
  cuda::DeviceGuard guard(index_);
  StridedLayout layouts[2] = {layout_of(a), layout_of(b)};
  cuda::coalesce(layouts, 2);
  cuda::dispatch_float(out.dtype(), "binary", [&](auto tag) {
    using T = decltype(tag);
    with_binary(op, [&](auto f) {
      const T* pa = a.data<T>();
      const T* pb = b.data<T>();
      T* po = out.data<T>();
      if (a.is_contiguous() && b.is_contiguous()) {
        map_binary_kernel<<<grid_for(n), kThreads, 0, stream_>>>(pa, pb, po, n, f);
      } else {
        map_binary_strided_kernel<<<grid_for(n), kThreads, 0, stream_>>>(
            pa, layouts[0], pb, layouts[1], po, n, f);
      }
      ST_CUDA_CHECK_LAUNCH();
    });
  });
}

void CudaBackend::masked_fill(const Tensor& x, const Tensor& mask, double value,
                              const Tensor& out) {
  int64_t n = x.numel();
  if (n == 0) return;
  ST_CHECK(mask.shape() == x.shape(), "masked_fill: mask view ", mask.shape(),
           " must have x's shape ", x.shape());
  cuda::DeviceGuard guard(index_);
  StridedLayout lm = layout_of(mask);
  cuda::coalesce(&lm, 1);
  cuda::dispatch_float(x.dtype(), "masked_fill", [&](auto tag) {
    using T = decltype(tag);
    T v = static_cast<T>(value);
    auto run = [&](auto mtag) {
      using M = decltype(mtag);
      masked_fill_kernel<T, M><<<grid_for(n), kThreads, 0, stream_>>>(
          x.data<T>(), static_cast<const M*>(mask.raw_data()), lm, v, out.data<T>(), n);
      ST_CUDA_CHECK_LAUNCH();
    };
    if (mask.dtype() == DType::I32) run(int32_t{});
    else if (mask.dtype() == x.dtype()) run(T{});
    else ST_THROW("masked_fill: mask dtype ", mask.dtype(), " must be i32 or x's dtype ",
                  x.dtype());
  });
}

void CudaBackend::accumulate(const Tensor& dst, const Tensor& src) {
  int64_t n = dst.numel();
  if (n == 0) return;
  ST_CHECK(src.numel() == n, "accumulate: ", dst.shape(), " += ", src.shape(),
           " (element counts differ)");
  cuda::DeviceGuard guard(index_);
  cuda::dispatch_float(dst.dtype(), "accumulate", [&](auto tag) {
    using T = decltype(tag);
    accumulate_kernel<<<grid_for(n), kThreads, 0, stream_>>>(dst.data<T>(), src.data<T>(), n);
    ST_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace st
