// CPU GEMM through BLAS (OpenBLAS): row-major cblas_sgemm / cblas_dgemm per batch item.
// BLAS threads follow set_num_threads(); OpenBLAS splits GEMMs over M and N, never K, so each
// element's dot product keeps its order whatever the thread count.
#include <cblas.h>
#include <omp.h>

#include "core/backend/cpu/cpu_backend.h"
#include "core/backend/cpu/cpu_common.h"

extern "C" void openblas_set_num_threads(int);

namespace st {

void CpuBackend::gemm(const GemmArgs& g) {
  if (g.m == 0 || g.n == 0) return;
  auto ta = g.trans_a ? CblasTrans : CblasNoTrans;
  auto tb = g.trans_b ? CblasTrans : CblasNoTrans;
  cpu::dispatch_float(g.dtype, "gemm", [&](auto tag) {
    using T = decltype(tag);
    const T* a = static_cast<const T*>(g.a);
    const T* b = static_cast<const T*>(g.b);
    T* c = static_cast<T*>(g.c);
    for (int64_t i = 0; i < g.batch; ++i) {
      if constexpr (std::is_same_v<T, float>) {
        cblas_sgemm(CblasRowMajor, ta, tb, g.m, g.n, g.k, static_cast<float>(g.alpha),
                    a + i * g.stride_a, g.lda, b + i * g.stride_b, g.ldb,
                    static_cast<float>(g.beta), c + i * g.stride_c, g.ldc);
      } else {
        cblas_dgemm(CblasRowMajor, ta, tb, g.m, g.n, g.k, g.alpha, a + i * g.stride_a, g.lda,
                    b + i * g.stride_b, g.ldb, g.beta, c + i * g.stride_c, g.ldc);
      }
    }
  });
}

void set_num_threads(int n) {
  ST_CHECK(n >= 1, "set_num_threads: ", n, " is not a positive thread count");
  omp_set_num_threads(n);
  openblas_set_num_threads(n);
}

int num_threads() { return omp_get_max_threads(); }

}  // namespace st
