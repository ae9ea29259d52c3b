// CPU optimizer kernels: the AdamW update (core/math/adamw.h) over f32 parameters, in place.
#include "core/backend/cpu/cpu_backend.h"
#include "core/backend/cpu/cpu_common.h"

namespace st {

void CpuBackend::adamw_update(const Tensor& p, const Tensor& m, const Tensor& v, const Tensor& g,
                              const AdamWStep& step) {
  ST_CHECK(p.dtype() == DType::F32 && m.dtype() == DType::F32 && v.dtype() == DType::F32 &&
               g.dtype() == DType::F32,
           "adamw_update: parameters, moments and gradients must be f32");
  float *pp = p.data<float>(), *pm = m.data<float>(), *pv = v.data<float>();
  const float* pg = g.data<float>();
  int64_t n = p.numel();
#pragma omp parallel for simd if (n > cpu::kParallelGrain)
  for (int64_t i = 0; i < n; ++i) step(pp[i], pm[i], pv[i], pg[i]);
}

}  // namespace st
