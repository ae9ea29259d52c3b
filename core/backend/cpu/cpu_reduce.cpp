// CPU reductions. out(o, i) = sum_r x(o, r, i) over x viewed as (outer, r, inner).
// Fixed blocking: each output is summed by one thread in index order, in double; a long single
// reduction is cut into fixed 8192-element blocks whose partial sums are added in block order.
// So the result never depends on the thread count. cumsum_axis: running sums along r, in
// index order (or reverse), in double, one thread per tile of 64 adjacent (o, i) columns.
#include <algorithm>
#include <vector>

#include "core/backend/cpu/cpu_backend.h"
#include "core/backend/cpu/cpu_common.h"
#include "core/math/scan.h"

namespace st {

void CpuBackend::sum_axis(const Tensor& x, int64_t outer, int64_t r, int64_t inner,
                          const Tensor& out) {
  cpu::dispatch_float(x.dtype(), "sum", [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* po = out.data<T>();
    if (inner == 1) {
      constexpr int64_t kBlock = 8192;
      int64_t blocks = (r + kBlock - 1) / kBlock;
      if (outer == 1 && blocks > 1) {
        std::vector<double> partial(blocks);
#pragma omp parallel for
        for (int64_t b = 0; b < blocks; ++b) {
          double acc = 0;
          int64_t end = std::min(r, (b + 1) * kBlock);
          for (int64_t j = b * kBlock; j < end; ++j) acc += px[j];
          partial[b] = acc;
        }
        double acc = 0;
        for (double p : partial) acc += p;
        po[0] = static_cast<T>(acc);
        return;
      }
#pragma omp parallel for if (outer * r > cpu::kParallelGrain)
      for (int64_t o = 0; o < outer; ++o) {
        double acc = 0;
        const T* row = px + o * r;
        for (int64_t j = 0; j < r; ++j) acc += row[j];
        po[o] = static_cast<T>(acc);
      }
      return;
    }
    // inner > 1: tiles of 64 outputs along inner, accumulated over r in order.
    constexpr int64_t kTile = 64;
    int64_t tiles = (inner + kTile - 1) / kTile;
#pragma omp parallel for if (outer * r * inner > cpu::kParallelGrain)
    for (int64_t t = 0; t < outer * tiles; ++t) {
      int64_t o = t / tiles, i0 = (t % tiles) * kTile;
      int64_t w = std::min(kTile, inner - i0);
      double acc[kTile] = {};
      const T* base = px + o * r * inner + i0;
      for (int64_t j = 0; j < r; ++j)
        for (int64_t i = 0; i < w; ++i) acc[i] += base[j * inner + i];
      for (int64_t i = 0; i < w; ++i) po[o * inner + i0 + i] = static_cast<T>(acc[i]);
    }
  });
}

void CpuBackend::cumsum_axis(const Tensor& x, int64_t outer, int64_t r, int64_t inner,
                             bool exclusive, bool reverse, const Tensor& out) {
  cpu::dispatch_float(x.dtype(), "cumsum", [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* po = out.data<T>();
    const int64_t tiles = (inner + kScanTile - 1) / kScanTile;  // of adjacent columns
#pragma omp parallel for if (outer * r * inner > cpu::kParallelGrain)
    for (int64_t t = 0; t < outer * tiles; ++t) {
      int64_t o = t / tiles, i = (t % tiles) * kScanTile;
      running_sum_columns(px + o * r * inner + i, po + o * r * inner + i, r, inner,
                          std::min(kScanTile, inner - i), exclusive, reverse);
    }
  });
}

}  // namespace st
