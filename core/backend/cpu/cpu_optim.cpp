// CPU optimizer kernels: the AdamW update (core/math/adamw.h) over f32 parameters, in place.
// Compiled with -fno-math-errno (core/CMakeLists.txt), so that sqrtf vectorises: v >= 0 never
// sets errno, and the vector square root rounds exactly as the scalar one.
#include <omp.h>

#include "core/backend/cpu/cpu_backend.h"
#include "core/backend/cpu/cpu_common.h"

namespace st {

void CpuBackend::adamw_update(const Tensor& p, const Tensor& m, const Tensor& v, const Tensor& g,
                              const AdamWStep& step) {
  ST_CHECK(p.dtype() == DType::F32 && m.dtype() == DType::F32 && v.dtype() == DType::F32 &&
               g.dtype() == DType::F32,
           "adamw_update: parameters, moments and gradients must be f32");
  float* __restrict pp = p.data<float>();
  float* __restrict pm = m.data<float>();
  float* __restrict pv = v.data<float>();
  const float* __restrict pg = g.data<float>();
  int64_t n = p.numel();
  // Each thread takes a contiguous range and runs it with its own copy of the step (no
  // aliasing with the arrays), so the loop vectorises.
  int64_t threads = n > cpu::kParallelGrain ? num_threads() : 1;
#pragma omp parallel num_threads(threads)
  {
    const AdamWStep s = step;
    int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    int64_t begin = n * t / nt, end = n * (t + 1) / nt;
#pragma omp simd
    for (int64_t i = begin; i < end; ++i) s(pp[i], pm[i], pv[i], pg[i]);
  }
}

}  // namespace st
