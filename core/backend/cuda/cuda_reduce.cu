// CUDA sum over one axis: out(o, i) = sum_r x(o, r, i) for contiguous x viewed as
// (outer, r, inner); out (outer, inner) is written (=). Accumulates in double like the CPU, in
// fixed chunks and fixed trees (cuda_reduce.cuh), so results never depend on scheduling.
#include "core/backend/cuda/cuda_reduce.cuh"

namespace st {

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

}  // namespace st
