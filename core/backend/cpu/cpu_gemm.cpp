// CPU GEMM through BLAS (OpenBLAS): row-major cblas_sgemm / cblas_dgemm per batch item.
// BLAS threads follow set_num_threads(); OpenBLAS splits GEMMs over M and N, never K, so each
// element's dot product keeps its order whatever the thread count. Optional accounting of
// flops and time for benchmarks (gemm_stats.h).
#include <cblas.h>
#include <omp.h>

#include <atomic>
#include <chrono>
#include <mutex>

#include "core/backend/cpu/cpu_backend.h"
#include "core/backend/cpu/cpu_common.h"
#include "core/backend/cpu/gemm_stats.h"

extern "C" void openblas_set_num_threads(int);

namespace st {

namespace cpu {
namespace {
std::atomic<bool> g_stats_on{false};
std::mutex g_stats_mutex;
GemmStats g_stats;
}  // namespace

void gemm_stats_enable(bool on) { g_stats_on.store(on, std::memory_order_relaxed); }
void gemm_stats_reset() {
  std::lock_guard<std::mutex> lock(g_stats_mutex);
  g_stats = GemmStats{};
}
GemmStats gemm_stats() {
  std::lock_guard<std::mutex> lock(g_stats_mutex);
  return g_stats;
}
}  // namespace cpu

namespace {
// Adds one gemm call to the statistics when they are enabled (RAII around the call).
struct GemmTimer {
  explicit GemmTimer(const GemmArgs& g) : on(cpu::g_stats_on.load(std::memory_order_relaxed)) {
    if (!on) return;
    flops = 2.0 * double(g.m) * double(g.n) * double(g.k) * double(g.batch);
    t0 = std::chrono::steady_clock::now();
  }
  ~GemmTimer() {
    if (!on) return;
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::lock_guard<std::mutex> lock(cpu::g_stats_mutex);
    cpu::g_stats.flops += flops;
    cpu::g_stats.seconds += s;
    cpu::g_stats.calls += 1;
  }
  bool on;
  double flops = 0;
  std::chrono::steady_clock::time_point t0;
};
}  // namespace

void CpuBackend::gemm(const GemmArgs& g) {
  if (g.m == 0 || g.n == 0) return;
  GemmTimer timer(g);
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
