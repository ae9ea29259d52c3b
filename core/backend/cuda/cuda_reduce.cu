// CUDA sum over one axis: out(o, i) = sum_r x(o, r, i) for contiguous x viewed as
// (outer, r, inner); out (outer, inner) is written (=). Accumulates in double like the CPU, in
// fixed chunks and fixed trees (cuda_reduce.cuh), so results never depend on scheduling.
// cumsum_axis: running sums along r, one thread per (o, i) column (neighbouring threads read
// neighbouring i), in index order or reverse, in double like the CPU: the same bits.
#include "core/backend/cuda/cuda_reduce.cuh"
#include "core/math/scan.h"

namespace st {

namespace {
template <class T>
__global__ void cumsum_kernel(const T* __restrict__ x, T* __restrict__ out, int64_t outer,
                              int64_t r, int64_t inner, bool exclusive, bool reverse) {
  ST_CUDA_GRID_STRIDE(c, outer * inner) {
    int64_t o = c / inner, i = c - o * inner;
    running_sum_column(x + o * r * inner + i, out + o * r * inner + i, r, inner, exclusive, reverse);
  }
}
}  // namespace

void CudaBackend::sum_axis(const Tensor& x, int64_t outer, int64_t r, int64_t inner,
                           const Tensor& out) {
  ST_CHECK(outer * r * inner == x.numel() && outer * inner == out.numel(), "sum_axis: x ",
           x.shape(), " viewed as (", outer, ", ", r, ", ", inner, ") into out ", out.shape());
  if (out.numel() == 0) return;
  if (r == 0) {
    fill(out, 0.0);
    return;
  }
  cuda::DeviceGuard guard(index_);
  cuda::dispatch_float(x.dtype(), "sum", [&](auto tag) {
    using T = decltype(tag);
    cuda::axis_sum<double, T>(*this, cuda::LoadTerm<double, T>{x.data<T>(), r, inner}, outer, r,
                              inner, out.data<T>());
  });
}

void CudaBackend::cumsum_axis(const Tensor& x, int64_t outer, int64_t r, int64_t inner,
                              bool exclusive, bool reverse, const Tensor& out) {
  ST_CHECK(outer * r * inner == x.numel() && x.numel() == out.numel(), "cumsum_axis: x ",
           x.shape(), " viewed as (", outer, ", ", r, ", ", inner, ") into out ", out.shape());
  if (out.numel() == 0) return;
  cuda::DeviceGuard guard(index_);
  cuda::dispatch_float(x.dtype(), "cumsum", [&](auto tag) {
    using T = decltype(tag);
    cumsum_kernel<T><<<cuda::grid_for(outer * inner), cuda::kThreads, 0, stream_>>>(
        x.data<T>(), out.data<T>(), outer, r, inner, exclusive, reverse);
    ST_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace st
