// CUDA seeded randomness through core/math/philox.h, element for element the CPU backend's
// streams: normal / uniform fills (any dtype, contiguous, dst =) and inverted dropout (f32, f64,
// contiguous x and y, y =) whose keep mask uses the global index of GlobalIndexMap.
#include "core/backend/cuda/cuda_common.cuh"
#include "core/backend/global_index.h"

namespace st {

namespace {

using cuda::grid_for;
using cuda::kThreads;

template <class T>
__global__ void normal_kernel(T* __restrict__ dst, int64_t n, RngKey key, double stddev) {
  ST_CUDA_GRID_STRIDE(i, n) {
    dst[i] = cuda::store_from_double<T>(stddev * philox_normal(key, static_cast<uint64_t>(i)));
  }
}

template <class T>
__global__ void uniform_kernel(T* __restrict__ dst, int64_t n, RngKey key, double lo,
                               double hi) {
  ST_CUDA_GRID_STRIDE(i, n) {
    dst[i] = cuda::store_from_double<T>(philox_uniform_between(key, static_cast<uint64_t>(i), lo, hi));
  }
}

// x, y: contiguous with the shape of `l`; element i draws global index g(i) of `map`.
template <class T>
__global__ void dropout_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t n,
                               StridedLayout l, GlobalIndexMap map, RngKey key, float p,
                               T keep_scale) {
  int nd = l.ndim;
  int64_t len = nd ? l.shape[nd - 1] : 1;
  ST_CUDA_GRID_STRIDE(i, n) {
    int64_t g = global_index(map, l, i, len);
    bool keep = dropout_keep(key, static_cast<uint64_t>(g), p);
    y[i] = keep ? x[i] * keep_scale : T(0);
  }
}

}  // namespace

void CudaBackend::fill_random_normal(const Tensor& dst, const RngKey& key, double stddev) {
  ST_CHECK(dst.is_contiguous(), "fill_random_normal: destination must be contiguous");
  int64_t n = dst.numel();
  if (n == 0) return;
  cuda::DeviceGuard guard(index_);
  cuda::dispatch_any(dst.dtype(), [&](auto tag) {
    using T = decltype(tag);
    normal_kernel<T><<<grid_for(n), kThreads, 0, stream_>>>(static_cast<T*>(dst.raw_data()), n,
                                                            key, stddev);
    ST_CUDA_CHECK_LAUNCH();
  });
}

void CudaBackend::fill_random_uniform(const Tensor& dst, const RngKey& key, double lo,
                                      double hi) {
  ST_CHECK(dst.is_contiguous(), "fill_random_uniform: destination must be contiguous");
  int64_t n = dst.numel();
  if (n == 0) return;
  cuda::DeviceGuard guard(index_);
  cuda::dispatch_any(dst.dtype(), [&](auto tag) {
    using T = decltype(tag);
    uniform_kernel<T><<<grid_for(n), kThreads, 0, stream_>>>(static_cast<T*>(dst.raw_data()), n,
                                                             key, lo, hi);
    ST_CUDA_CHECK_LAUNCH();
  });
}

void CudaBackend::dropout(const Tensor& x, float p, const RngKey& key, const GlobalIndexMap& map,
                          const Tensor& y) {
  int64_t n = x.numel();
  if (n == 0) return;
  StridedLayout l = layout_of(x);
  ST_CHECK(map.ndim == 0 || map.ndim == l.ndim, "dropout: index map of rank ", map.ndim,
           " for a tensor of shape ", x.shape());
  cuda::DeviceGuard guard(index_);
  cuda::dispatch_float(x.dtype(), "dropout", [&](auto tag) {
    using T = decltype(tag);
    T keep_scale = static_cast<T>(1.0 / (1.0 - static_cast<double>(p)));
    dropout_kernel<T><<<grid_for(n), kThreads, 0, stream_>>>(x.data<T>(), y.data<T>(), n, l,
                                                             map, key, p, keep_scale);
    ST_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace st
