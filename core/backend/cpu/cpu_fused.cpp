// CPU fused kernels: bias + activation (forward, and backward with the bias gradient) over
// h (R, C) + b (C) (the backward also from a bf16 h), and residual + dropout. Math in
// core/math/fused.h; all outputs written (=).
// The bias gradient is summed in double over fixed blocks of kBiasRows rows (partials added in
// block order), so it does not depend on the thread count.
#include <algorithm>
#include <type_traits>
#include <vector>

#include "core/backend/cpu/cpu_backend.h"
#include "core/backend/cpu/cpu_common.h"
#include "core/backend/fused_functors.h"
#include "core/backend/global_index.h"
#include "core/math/bf16.h"

namespace st {

namespace {
constexpr int64_t kBiasRows = 256;  // rows per partial sum of the bias gradient
constexpr int64_t kBiasCols = 64;   // columns per task

void check_bias_shapes(const char* op, const Tensor& h, const Tensor& b) {
  ST_CHECK(b.numel() > 0 && h.numel() % b.numel() == 0, op, ": bias ", b.shape(),
           " does not divide input ", h.shape());
}
}  // namespace

void CpuBackend::bias_act_forward(UnaryOp act, const Tensor& h, const Tensor& b,
                                  const Tensor& y) {
  check_bias_shapes("bias_act_forward", h, b);
  int64_t C = b.numel(), R = h.numel() / C;
  cpu::dispatch_float(h.dtype(), "bias_act_forward", [&](auto tag) {
    using T = decltype(tag);
    with_bias_act(act, [&](auto f, auto) {
      const T* ph = h.data<T>();
      const T* pb = b.data<T>();
      T* py = y.data<T>();
#pragma omp parallel for if (R * C > cpu::kParallelGrain)
      for (int64_t r = 0; r < R; ++r) {
        const T* hr = ph + r * C;
        T* yr = py + r * C;
#pragma omp simd
        for (int64_t c = 0; c < C; ++c) yr[c] = f(hr[c], pb[c]);
      }
    });
  });
}

namespace {
// dh and the bias partials of bias_act_backward, with h stored as H (T, or bf16 under T = float).
template <class T, class H, class Grad>
void bias_act_grad_rows(const H* ph, const T* pb, const T* pg, T* pdh, T* pdb, int64_t R, int64_t C, Grad grad) {
  int64_t blocks = (R + kBiasRows - 1) / kBiasRows, tiles = (C + kBiasCols - 1) / kBiasCols;
  std::vector<double> partial(static_cast<size_t>(blocks * C));  // (blocks, C)
  // Task (block, tile): dh on rows [block * kBiasRows, ...) x columns of the tile, and that
  // block's column sums.
#pragma omp parallel for if (R * C > cpu::kParallelGrain)
  for (int64_t t = 0; t < blocks * tiles; ++t) {
    int64_t blk = t / tiles, c0 = (t % tiles) * kBiasCols;
    int64_t w = std::min(kBiasCols, C - c0), r1 = std::min(R, (blk + 1) * kBiasRows);
    double acc[kBiasCols] = {};
    for (int64_t r = blk * kBiasRows; r < r1; ++r) {
      int64_t base = r * C + c0;
      for (int64_t i = 0; i < w; ++i) {
        T d = grad(widen_as<T>(ph[base + i]), pb[c0 + i], pg[base + i]);
        pdh[base + i] = d;
        acc[i] += d;
      }
    }
    for (int64_t i = 0; i < w; ++i) partial[blk * C + c0 + i] = acc[i];
  }
#pragma omp parallel for if (blocks * C > cpu::kParallelGrain)
  for (int64_t c = 0; c < C; ++c) {
    double s = 0;
    for (int64_t blk = 0; blk < blocks; ++blk) s += partial[blk * C + c];
    pdb[c] = static_cast<T>(s);
  }
}
}  // namespace

void CpuBackend::bias_act_backward(UnaryOp act, const Tensor& h, const Tensor& b,
                                   const Tensor& dy, const Tensor& dh, const Tensor& db) {
  check_bias_shapes("bias_act_backward", h, b);
  bool h_bf16 = h.dtype() == DType::BF16;
  ST_CHECK(h.dtype() == dy.dtype() || (h_bf16 && dy.dtype() == DType::F32), "bias_act_backward: h ", h.dtype(),
           " with gradient ", dy.dtype(), " (h is the gradient's dtype, or bf16 with f32)");
  int64_t C = b.numel(), R = h.numel() / C;
  cpu::dispatch_float(dy.dtype(), "bias_act_backward", [&](auto tag) {
    using T = decltype(tag);
    with_bias_act(act, [&](auto, auto grad) {
      if constexpr (std::is_same_v<T, float>) {
        if (h_bf16) {
          bias_act_grad_rows(h.data<bf16>(), b.data<T>(), dy.data<T>(), dh.data<T>(), db.data<T>(), R, C, grad);
          return;
        }
      }
      bias_act_grad_rows(h.data<T>(), b.data<T>(), dy.data<T>(), dh.data<T>(), db.data<T>(), R, C, grad);
    });
  });
}

void CpuBackend::dropout_add(const Tensor& x, const Tensor& residual, float p, const RngKey& key,
                             const GlobalIndexMap& map, const Tensor& out) {
  StridedLayout l = layout_of(x);
  ST_CHECK(map.ndim == 0 || map.ndim == l.ndim, "dropout_add: index map of rank ", map.ndim,
           " for a tensor of shape ", x.shape());
  cpu::dispatch_float(x.dtype(), "dropout_add", [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    const T* pr = residual.data<T>();
    T* po = out.data<T>();
    T keep_scale = static_cast<T>(1.0 / (1.0 - static_cast<double>(p)));
    DropoutAdd f;
    int64_t rows = cpu::row_count(l), len = cpu::last_size(l);
#pragma omp parallel for if (rows * len > cpu::kParallelGrain / 8)
    for (int64_t r = 0; r < rows; ++r) {
      GlobalRow g = global_row(map, l, r, len);  // the numbering of dropout()
      for (int64_t j = 0; j < len; ++j) {
        int64_t i = r * len + j;
        bool keep = dropout_keep(key, static_cast<uint64_t>(g.start + j * g.step), p);
        po[i] = f(px[i], pr[i], keep, keep_scale);
      }
    }
  });
}

}  // namespace st
