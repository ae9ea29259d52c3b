// CUDA fill and copy: any dtype (f32, f64, bf16, i32), arbitrary strides, dtype conversion with
// the CPU backend's rules (bf16 rounds to nearest even through float). Both write dst (=).
// Layouts are coalesced first; contiguous same-dtype copies are a plain device memcpy.
#include "core/backend/cuda/cuda_common.cuh"

namespace st {

namespace {

using cuda::grid_for;
using cuda::kThreads;

bool is_dense(const StridedLayout& l) {  // after coalescing
  return l.ndim == 0 || (l.ndim == 1 && l.strides[0] == 1);
}

template <class T>
__global__ void fill_dense_kernel(T* dst, int64_t n, T value) {
  ST_CUDA_GRID_STRIDE(i, n) dst[i] = value;
}

template <class T>
__global__ void fill_strided_kernel(T* dst, StridedLayout l, int64_t n, T value) {
  ST_CUDA_GRID_STRIDE(i, n) dst[cuda::strided_offset(l, i)] = value;
}

template <class D, class S>
__global__ void convert_dense_kernel(D* dst, const S* src, int64_t n) {
  ST_CUDA_GRID_STRIDE(i, n) dst[i] = cuda::convert<D>(src[i]);
}

template <class D, class S>
__global__ void copy_strided_kernel(D* dst, StridedLayout ld, const S* src, StridedLayout ls,
                                    int64_t n) {
  ST_CUDA_GRID_STRIDE(i, n) {
    dst[cuda::strided_offset(ld, i)] = cuda::convert<D>(src[cuda::strided_offset(ls, i)]);
  }
}

}  // namespace

void CudaBackend::fill(const Tensor& dst, double value) {
  int64_t n = dst.numel();
  if (n == 0) return;
  cuda::DeviceGuard guard(index_);
  StridedLayout l = layout_of(dst);
  cuda::coalesce(&l, 1);
  cuda::dispatch_any(dst.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T v = cuda::store_from_double<T>(value);
    T* p = static_cast<T*>(dst.raw_data());
    if (is_dense(l)) fill_dense_kernel<T><<<grid_for(n), kThreads, 0, stream_>>>(p, n, v);
    else fill_strided_kernel<T><<<grid_for(n), kThreads, 0, stream_>>>(p, l, n, v);
    ST_CUDA_CHECK_LAUNCH();
  });
}

void CudaBackend::copy(const Tensor& dst, const Tensor& src) {
  ST_CHECK(dst.shape() == src.shape(), "copy: shapes differ: ", dst.shape(), " <- ", src.shape());
  int64_t n = dst.numel();
  if (n == 0) return;
  cuda::DeviceGuard guard(index_);
  StridedLayout layouts[2] = {layout_of(dst), layout_of(src)};
  cuda::coalesce(layouts, 2);
  const StridedLayout &ld = layouts[0], &ls = layouts[1];
  bool dense = is_dense(ld) && is_dense(ls);
  if (dense && dst.dtype() == src.dtype()) {
    ST_CUDA_CHECK(cudaMemcpyAsync(dst.raw_data(), src.raw_data(),
                                  static_cast<size_t>(n) * dtype_size(dst.dtype()),
                                  cudaMemcpyDeviceToDevice, stream_));
    return;
  }
  cuda::dispatch_any(dst.dtype(), [&](auto dtag) {
    using D = decltype(dtag);
    cuda::dispatch_any(src.dtype(), [&](auto stag) {
      using S = decltype(stag);
      D* d = static_cast<D*>(dst.raw_data());
      const S* s = static_cast<const S*>(src.raw_data());
      if (dense) convert_dense_kernel<D, S><<<grid_for(n), kThreads, 0, stream_>>>(d, s, n);
      else copy_strided_kernel<D, S><<<grid_for(n), kThreads, 0, stream_>>>(d, ld, s, ls, n);
      ST_CUDA_CHECK_LAUNCH();
    });
  });
}

}  // namespace st
