// CPU embedding kernels. Forward gathers rows; backward scatter-adds rows of dout into dtable
// (+=). The scatter runs over column tiles, tokens in order inside each tile, so it is
// deterministic and race-free whatever the thread count.
#include <cstring>

#include "core/backend/cpu/cpu_backend.h"
#include "core/backend/cpu/cpu_common.h"

namespace st {

void CpuBackend::embedding_forward(const Tensor& table, const Tensor& ids, const Tensor& out) {
  int64_t D = table.size(1), T = ids.numel();
  const int32_t* pi = ids.data<int32_t>();
  cpu::dispatch_float(table.dtype(), "embedding", [&](auto tag) {
    using E = decltype(tag);
    const E* pt = table.data<E>();
    E* po = out.data<E>();
#pragma omp parallel for if (T * D > cpu::kParallelGrain)
    for (int64_t t = 0; t < T; ++t) std::memcpy(po + t * D, pt + pi[t] * D, D * sizeof(E));
  });
}

void CpuBackend::embedding_backward(const Tensor& ids, const Tensor& dout, const Tensor& dtable) {
  int64_t D = dtable.size(1), T = ids.numel();
  const int32_t* pi = ids.data<int32_t>();
  cpu::dispatch_float(dtable.dtype(), "embedding_backward", [&](auto tag) {
    using E = decltype(tag);
    const E* pg = dout.data<E>();
    E* pt = dtable.data<E>();
    constexpr int64_t kTile = 64;
    int64_t tiles = (D + kTile - 1) / kTile;
#pragma omp parallel for if (T * D > cpu::kParallelGrain)
    for (int64_t tile = 0; tile < tiles; ++tile) {
      int64_t j0 = tile * kTile, w = std::min(kTile, D - j0);
      for (int64_t t = 0; t < T; ++t) {
        E* dst = pt + pi[t] * D + j0;
        const E* src = pg + t * D + j0;
        for (int64_t j = 0; j < w; ++j) dst[j] += src[j];
      }
    }
  });
}

int64_t CpuBackend::find_out_of_range(const Tensor& ids, int64_t rows) {
  const int32_t* p = ids.data<int32_t>();
  int64_t n = ids.numel();
  for (int64_t i = 0; i < n; ++i)
    if (p[i] < 0 || p[i] >= rows) return i;
  return -1;
}

}  // namespace st
