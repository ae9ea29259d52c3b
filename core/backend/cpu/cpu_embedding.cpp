// CPU embedding kernels. Forward gathers rows: out (T, D) = table[ids] (=). Backward adds the
// rows of dout into dtable (V, D) (+=) in the order core/math/segments.h defines (runs of equal
// ids, split into pieces), which the CUDA backend follows too: deterministic whatever the thread
// count, and bitwise equal to the GPU.
#include <algorithm>
#include <cstring>
#include <numeric>
#include <vector>

#include "core/backend/cpu/cpu_backend.h"
#include "core/backend/cpu/cpu_common.h"
#include "core/math/segments.h"

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
  int64_t V = dtable.size(0), D = dtable.size(1), T = ids.numel();
  if (T == 0 || D == 0) return;
  ST_CHECK(T <= INT32_MAX, "embedding_backward: ", T, " ids exceed ", INT32_MAX);
  const int32_t* pi = ids.data<int32_t>();
  int64_t bad = find_out_of_range(ids, V);
  ST_CHECK(bad < 0, "embedding_backward: id ", bad < 0 ? 0 : pi[bad], " at position ", bad,
           " is outside the table's ", V, " rows");
  // Token positions stably sorted by id: the runs of equal ids, each in token order.
  // A counting sort when the table is not much larger than the batch, else a comparison sort.
  std::vector<int32_t> sorted(static_cast<size_t>(T));
  if (V <= 4 * T + 65536) {
    std::vector<int64_t> offset(static_cast<size_t>(V) + 1, 0);
    for (int64_t t = 0; t < T; ++t) ++offset[static_cast<size_t>(pi[t]) + 1];
    std::partial_sum(offset.begin(), offset.end(), offset.begin());
    for (int64_t t = 0; t < T; ++t) sorted[offset[pi[t]]++] = static_cast<int32_t>(t);
  } else {
    std::iota(sorted.begin(), sorted.end(), 0);
    std::stable_sort(sorted.begin(), sorted.end(),
                     [pi](int32_t a, int32_t b) { return pi[a] < pi[b]; });
  }
  std::vector<int64_t> run_starts;
  for (int64_t s = 0; s < T; ++s)
    if (s == 0 || pi[sorted[s]] != pi[sorted[s - 1]]) run_starts.push_back(s);
  run_starts.push_back(T);
  int64_t runs = static_cast<int64_t>(run_starts.size()) - 1;
  constexpr int64_t kTile = 64;
  int64_t tiles = (D + kTile - 1) / kTile;
  cpu::dispatch_float(dtable.dtype(), "embedding_backward", [&](auto tag) {
    using E = decltype(tag);
    const E* pg = dout.data<E>();
    E* pt = dtable.data<E>();
    // One (run, column tile) per iteration: every row is written by one iteration only.
#pragma omp parallel for schedule(dynamic, 16) if (T * D > cpu::kParallelGrain)
    for (int64_t task = 0; task < runs * tiles; ++task) {
      int64_t r = task / tiles, j0 = (task % tiles) * kTile, w = std::min(kTile, D - j0);
      int64_t s = run_starts[r], e = run_starts[r + 1];
      int64_t id = pi[sorted[s]];
      E piece[kTile], total[kTile];
      bool one_piece = segment_piece_end(s, e) == e;
      for (int64_t j = 0; j < w; ++j) total[j] = E(0);
      for (int64_t a = s; a < e; a = segment_piece_end(a, e)) {
        int64_t b = segment_piece_end(a, e);
        for (int64_t j = 0; j < w; ++j) piece[j] = E(0);
        for (int64_t k = a; k < b; ++k) {
          const E* src = pg + static_cast<int64_t>(sorted[k]) * D + j0;
          for (int64_t j = 0; j < w; ++j) piece[j] += src[j];
        }
        if (one_piece) break;
        for (int64_t j = 0; j < w; ++j) total[j] += piece[j];
      }
      E* dst = pt + id * D + j0;
      const E* sum = one_piece ? piece : total;
      for (int64_t j = 0; j < w; ++j) dst[j] += sum[j];
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
