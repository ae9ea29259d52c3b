// CUDA optimizer kernels: the AdamW update (core/math/adamw.h) over contiguous f32 parameters;
// p, m and v are updated in place, g is read.
#include "core/backend/cuda/cuda_common.cuh"

namespace st {

namespace {
__global__ void adamw_kernel(float* __restrict__ p, float* __restrict__ m, float* __restrict__ v,
                             const float* __restrict__ g, int64_t n, AdamWStep step) {
  ST_CUDA_GRID_STRIDE(i, n) step(p[i], m[i], v[i], g[i]);
}
}  // namespace

void CudaBackend::adamw_update(const Tensor& p, const Tensor& m, const Tensor& v, const Tensor& g,
                               const AdamWStep& step) {
  ST_CHECK(p.dtype() == DType::F32 && m.dtype() == DType::F32 && v.dtype() == DType::F32 &&
               g.dtype() == DType::F32,
           "adamw_update: parameters, moments and gradients must be f32");
  int64_t n = p.numel();
  ST_CHECK(m.numel() == n && v.numel() == n && g.numel() == n, "adamw_update: parameter ",
           p.shape(), ", moments ", m.shape(), " and ", v.shape(), ", gradient ", g.shape(),
           " differ in size");
  if (n == 0) return;
  cuda::DeviceGuard guard(index_);
  adamw_kernel<<<cuda::grid_for(n), cuda::kThreads, 0, stream_>>>(
      p.data<float>(), m.data<float>(), v.data<float>(), g.data<float>(), n, step);
  ST_CUDA_CHECK_LAUNCH();
}

}  // namespace st
