// CPU GEMM through BLAS (OpenBLAS): row-major cblas_sgemm / cblas_dgemm per batch item.
// bf16 operands (the mixed-precision products) are widened to f32 exactly and multiplied by
// sgemm: the same rounded inputs and f32 accumulation as bf16 tensor cores, in another order.
// C is f32 (c_f32) or bf16 (computed in f32, then rounded once).
// Threads: C is cut into blocks along its larger dimension by its shape alone (split_of), and
// the (batch item, block) pairs are shared among the OpenMP threads, each block one
// single-threaded BLAS call. So every element is computed by the same call whatever the thread
// count, and results are bitwise equal for any number of threads (OpenBLAS's own threading is
// not: on some CPUs its 1- and 2-thread sgemm differ in the last bits). Optional accounting of
// flops and time for benchmarks (gemm_stats.h).
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <vector>

#include "core/backend/cpu/cpu_backend.h"
#include "core/backend/cpu/cpu_common.h"
#include "core/backend/cpu/gemm_stats.h"

extern "C" void openblas_set_num_threads(int);
extern "C" char* openblas_get_config(void);
extern "C" char* openblas_get_corename(void);

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

namespace {
// Elements spanned by a batched operand stored (rows, cols) with leading dimension ld.
int64_t operand_extent(int64_t rows, int64_t cols, int64_t ld, int64_t batch, int64_t stride) {
  if (rows == 0 || cols == 0) return 0;
  return (batch - 1) * stride + (rows - 1) * ld + cols;
}

std::vector<float> widen(const void* p, int64_t n) {
  const bf16* src = static_cast<const bf16*>(p);
  std::vector<float> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out[i] = bf16_to_float(src[i]);
  return out;
}

// bf16 A and B: f32 copies of their spans, one f32 GEMM, C written as f32 or rounded to bf16.
void gemm_bf16(const GemmArgs& g, CpuBackend& cpu) {
  std::vector<float> a = widen(g.a, operand_extent(g.trans_a ? g.k : g.m, g.trans_a ? g.m : g.k,
                                                   g.lda, g.batch, g.stride_a));
  std::vector<float> b = widen(g.b, operand_extent(g.trans_b ? g.n : g.k, g.trans_b ? g.k : g.n,
                                                   g.ldb, g.batch, g.stride_b));
  GemmArgs f = g;
  f.dtype = DType::F32;
  f.c_f32 = false;
  f.a = a.data();
  f.b = b.data();
  if (g.c_f32) {
    cpu.gemm(f);
    return;
  }
  int64_t c_extent = operand_extent(g.m, g.n, g.ldc, g.batch, g.stride_c);
  std::vector<float> c = g.beta != 0.0 ? widen(g.c, c_extent) : std::vector<float>(c_extent);
  f.c = c.data();
  cpu.gemm(f);
  // Round back only the elements of C (rows of n within ldc), leaving any gaps untouched.
  bf16* out = static_cast<bf16*>(g.c);
  for (int64_t i = 0; i < g.batch; ++i)
    for (int64_t r = 0; r < g.m; ++r)
      for (int64_t j = 0; j < g.n; ++j) {
        int64_t at = i * g.stride_c + r * g.ldc + j;
        out[at] = float_to_bf16(c[at]);
      }
}
}  // namespace

namespace {
// The split of C's larger dimension into blocks (a function of the shape alone, never of the
// thread count): about 512 rows or columns each, a multiple of 16, at most 64 blocks. A product
// that this leaves as one block but that holds at least 2^24 multiply-adds, with a larger side
// of at least 256, is cut in two: a weight gradient X^T dY (d_in x d_out summed over every
// token) then runs on two threads. On 2 cores (docs/benchmarks.md, "GEMM threading") a
// 256 x 768 x 4096 product ran about 1.9x faster in two blocks; cutting products that already
// have two blocks into more was slower (each block repacks the other operand).
struct GemmSplit {
  bool by_rows;
  int64_t block, blocks;
};
GemmSplit split_of(int64_t m, int64_t n, int64_t k) {
  bool by_rows = m >= n;
  int64_t dim = by_rows ? m : n;
  int64_t blocks = std::clamp<int64_t>(dim / 512, 1, 64);
  if (blocks == 1 && dim >= 256 && double(m) * double(n) * double(k) >= double(int64_t{1} << 24)) blocks = 2;
  int64_t block = (dim + blocks - 1) / blocks;
  block = (block + 15) / 16 * 16;
  return {by_rows, block, (dim + block - 1) / block};
}
}  // namespace

void CpuBackend::gemm(const GemmArgs& g) {
  // batch 0 computes nothing (and the bf16 path's operand spans would be negative).
  if (g.m == 0 || g.n == 0 || g.batch == 0) return;
  ST_CHECK(!g.c_f32 || g.dtype == DType::BF16, "gemm: an f32 output (c_f32) needs bf16 operands, got ",
           g.dtype);
  if (g.dtype == DType::BF16) return gemm_bf16(g, *this);
  GemmTimer timer(g);
  auto ta = g.trans_a ? CblasTrans : CblasNoTrans;
  auto tb = g.trans_b ? CblasTrans : CblasNoTrans;
  const GemmSplit split = split_of(g.m, g.n, g.k);
  const int64_t tasks = g.batch * split.blocks;
  cpu::dispatch_float(g.dtype, "gemm", [&](auto tag) {
    using T = decltype(tag);
    const T* a = static_cast<const T*>(g.a);
    const T* b = static_cast<const T*>(g.b);
    T* c = static_cast<T*>(g.c);
    // One single-threaded BLAS call per (batch item, block); the blocks are the threads' work.
    // OpenBLAS runs single-threaded inside an active OpenMP region (and at 1 thread outside one).
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < tasks; ++t) {
      int64_t i = t / split.blocks, begin = (t % split.blocks) * split.block;
      int64_t rows = g.m, cols = g.n;
      const T* ai = a + i * g.stride_a;
      const T* bi = b + i * g.stride_b;
      T* ci = c + i * g.stride_c;
      if (split.by_rows) {  // rows [begin, begin + rows) of op(A) and C
        rows = std::min(split.block, g.m - begin);
        ai += g.trans_a ? begin : begin * g.lda;
        ci += begin * g.ldc;
      } else {  // columns [begin, begin + cols) of op(B) and C
        cols = std::min(split.block, g.n - begin);
        bi += g.trans_b ? begin * g.ldb : begin;
        ci += begin;
      }
      if constexpr (std::is_same_v<T, float>) {
        cblas_sgemm(CblasRowMajor, ta, tb, rows, cols, g.k, static_cast<float>(g.alpha), ai, g.lda, bi, g.ldb,
                    static_cast<float>(g.beta), ci, g.ldc);
      } else {
        cblas_dgemm(CblasRowMajor, ta, tb, rows, cols, g.k, g.alpha, ai, g.lda, bi, g.ldb, g.beta, ci, g.ldc);
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

std::string cpu_blas_description() {
  // openblas_get_config(): "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY SkylakeX MAX_THREADS=64".
  std::string config = openblas_get_config();
  std::string name = config.substr(0, config.find(' ', config.find(' ') + 1));
  return name + " (" + openblas_get_corename() + " kernels)";
}

}  // namespace st
