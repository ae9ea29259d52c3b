// GEMM accounting for benchmarks: when enabled, the CPU backend's gemm adds each call's
// floating-point operations (2 m n k per batch item) and wall time to process-wide counters, so a
// benchmark can report the GFLOP/s its matmuls achieve inside a training step. Off by default
// (then the cost is one relaxed atomic load per gemm call).
#pragma once
#include <cstdint>

namespace st::cpu {

struct GemmStats {
  double flops = 0;    // sum of 2 m n k over calls and batch items
  double seconds = 0;  // wall time spent inside CpuBackend::gemm
  int64_t calls = 0;   // CpuBackend::gemm calls
};

void gemm_stats_enable(bool on);
void gemm_stats_reset();
GemmStats gemm_stats();

}  // namespace st::cpu
