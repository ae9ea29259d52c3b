// CPU row kernels on contiguous (R, C): LayerNorm forward/backward (also from a stored bf16 x̂),
// softmax and log-softmax, fused softmax-cross-entropy. Rows run in parallel; each row is summed
// in index order.
// Column sums (LayerNorm dw, db) run over column tiles, rows in order, so results do not
// depend on the thread count.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "core/backend/cpu/cpu_backend.h"
#include "core/backend/cpu/cpu_common.h"
#include "core/math/bf16.h"
#include "core/math/fast_math.h"
#include "core/math/rows.h"

namespace st {

void CpuBackend::layer_norm_forward(const Tensor& x, const Tensor& w, const Tensor& b,
                                    double eps, const Tensor& y, const Tensor& mean,
                                    const Tensor& rstd, const Tensor& xhat) {
  int64_t C = x.size(-1), R = x.numel() / std::max<int64_t>(C, 1);
  ST_CHECK(!xhat.defined() || (xhat.dtype() == DType::BF16 && x.dtype() == DType::F32 && xhat.numel() == x.numel()),
           "layer_norm_forward: xhat must be bf16 of the f32 input's size, got ", xhat.dtype(), " ", xhat.shape());
  bf16* pxh = xhat.defined() ? xhat.data<bf16>() : nullptr;
  cpu::dispatch_float(x.dtype(), "layer_norm", [&](auto tag) {
    using T = decltype(tag);
    const T *px = x.data<T>(), *pw = w.data<T>(), *pb = b.data<T>();
    T *py = y.data<T>(), *pm = mean.data<T>(), *pr = rstd.data<T>();
#pragma omp parallel for if (R * C > cpu::kParallelGrain)
    for (int64_t r = 0; r < R; ++r) {
      const T* xr = px + r * C;
      T s = 0;
#pragma omp simd reduction(+ : s)
      for (int64_t j = 0; j < C; ++j) s += xr[j];
      T mu = s / static_cast<T>(C);
      T v = 0;
#pragma omp simd reduction(+ : v)
      for (int64_t j = 0; j < C; ++j) v += (xr[j] - mu) * (xr[j] - mu);
      T rs = LayerNormTerms::rstd(v / static_cast<T>(C), static_cast<T>(eps));
      pm[r] = mu;
      pr[r] = rs;
      T* yr = py + r * C;
      for (int64_t j = 0; j < C; ++j) yr[j] = LayerNormTerms::forward(xr[j], mu, rs, pw[j], pb[j]);
      if (pxh)
        for (int64_t j = 0; j < C; ++j)
          pxh[r * C + j] = float_to_bf16(static_cast<float>(LayerNormTerms::xhat(xr[j], mu, rs)));
    }
  });
}

namespace {
template <class T, class XHat>
void layer_norm_backward_rows(XHat xhat_at, const T* pw, const T* pr, const T* pdy, T* pdx, T* pdw, T* pdb,
                              int64_t R, int64_t C) {
  // One pass over x and dy: rows in fixed blocks of kRowBlock; each block writes its partial
  // dw, db; the partials are then added in block order (independent of the thread count).
  constexpr int64_t kRowBlock = 32;
  int64_t blocks = (R + kRowBlock - 1) / kRowBlock;
  std::vector<T> part_w(blocks * C, T(0)), part_b(blocks * C, T(0));
#pragma omp parallel for if (R * C > cpu::kParallelGrain)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    T* aw = part_w.data() + blk * C;
    T* ab = part_b.data() + blk * C;
    for (int64_t r = blk * kRowBlock; r < std::min(R, (blk + 1) * kRowBlock); ++r) {
      const T* dyr = pdy + r * C;
      T rs = pr[r];
      T sum_g = 0, sum_gx = 0;
#pragma omp simd reduction(+ : sum_g, sum_gx)
      for (int64_t j = 0; j < C; ++j) {
        T g = dyr[j] * pw[j];
        T xh = xhat_at(r, j);
        sum_g += g;
        sum_gx += g * xh;
        aw[j] += dyr[j] * xh;
        ab[j] += dyr[j];
      }
      T mg = sum_g / static_cast<T>(C), mgx = sum_gx / static_cast<T>(C);
      T* dxr = pdx + r * C;
#pragma omp simd
      for (int64_t j = 0; j < C; ++j) dxr[j] = LayerNormTerms::input_grad(dyr[j] * pw[j], xhat_at(r, j), rs, mg, mgx);
    }
  }
  std::fill(pdw, pdw + C, T(0));
  std::fill(pdb, pdb + C, T(0));
  for (int64_t blk = 0; blk < blocks; ++blk) {
#pragma omp simd
    for (int64_t j = 0; j < C; ++j) {
      pdw[j] += part_w[blk * C + j];
      pdb[j] += part_b[blk * C + j];
    }
  }
}
}  // namespace

void CpuBackend::layer_norm_backward(const Tensor& x, const Tensor& w, const Tensor& mean,
                                     const Tensor& rstd, const Tensor& dy, const Tensor& dx,
                                     const Tensor& dw, const Tensor& db) {
  int64_t C = x.size(-1), R = x.numel() / std::max<int64_t>(C, 1);
  bool stored = x.dtype() == DType::BF16;
  ST_CHECK(x.dtype() == dy.dtype() || (stored && dy.dtype() == DType::F32), "layer_norm_backward: x ", x.dtype(),
           " with gradient ", dy.dtype(), " (x is the gradient's dtype, or a bf16 x̂ with f32)");
  cpu::dispatch_float(dy.dtype(), "layer_norm_backward", [&](auto tag) {
    using T = decltype(tag);
    const T *pw = w.data<T>(), *pr = rstd.data<T>(), *pdy = dy.data<T>();
    T *pdx = dx.data<T>(), *pdw = dw.data<T>(), *pdb = db.data<T>();
    if constexpr (std::is_same_v<T, float>) {
      if (stored) {
        layer_norm_backward_rows<T>(LayerNormXhatFromStored{x.data<bf16>(), C}, pw, pr, pdy, pdx, pdw, pdb, R, C);
        return;
      }
    }
    layer_norm_backward_rows<T>(LayerNormXhatFromInput<T>{x.data<T>(), mean.data<T>(), pr, C}, pw, pr, pdy, pdx, pdw, pdb, R, C);
  });
}

void CpuBackend::softmax_forward(SoftmaxKind kind, const Tensor& x, const Tensor& y) {
  int64_t C = x.size(-1), R = x.numel() / std::max<int64_t>(C, 1);
  cpu::dispatch_float(x.dtype(), "softmax", [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* py = y.data<T>();
#pragma omp parallel for if (R * C > cpu::kParallelGrain)
    for (int64_t r = 0; r < R; ++r) {
      const T* xr = px + r * C;
      T* yr = py + r * C;
      T mx = -std::numeric_limits<T>::infinity();
#pragma omp simd reduction(max : mx)
      for (int64_t j = 0; j < C; ++j) mx = xr[j] > mx ? xr[j] : mx;  // (not std::max: it does not vectorise)
      if (mx == -std::numeric_limits<T>::infinity()) {  // fully masked row: softmax 0
        T fillv = kind == SoftmaxKind::Softmax ? T(0) : -std::numeric_limits<T>::infinity();
        std::fill(yr, yr + C, fillv);
        continue;
      }
      T s = 0;
#pragma omp simd reduction(+ : s)
      for (int64_t j = 0; j < C; ++j) s += exp_of(xr[j] - mx);
      if (kind == SoftmaxKind::Softmax) {
        T inv = T(1) / s;
        for (int64_t j = 0; j < C; ++j) yr[j] = exp_of(xr[j] - mx) * inv;
      } else {
        T ls = mx + std::log(s);
        for (int64_t j = 0; j < C; ++j) yr[j] = xr[j] - ls;
      }
    }
  });
}

void CpuBackend::softmax_backward(SoftmaxKind kind, const Tensor& y, const Tensor& dy,
                                  const Tensor& dx) {
  int64_t C = y.size(-1), R = y.numel() / std::max<int64_t>(C, 1);
  cpu::dispatch_float(y.dtype(), "softmax_backward", [&](auto tag) {
    using T = decltype(tag);
    const T *py = y.data<T>(), *pdy = dy.data<T>();
    T* pdx = dx.data<T>();
#pragma omp parallel for if (R * C > cpu::kParallelGrain)
    for (int64_t r = 0; r < R; ++r) {
      const T *yr = py + r * C, *dyr = pdy + r * C;
      T* dxr = pdx + r * C;
      T acc = 0;
      if (kind == SoftmaxKind::Softmax) {
#pragma omp simd reduction(+ : acc)
        for (int64_t j = 0; j < C; ++j) acc += dyr[j] * yr[j];
        for (int64_t j = 0; j < C; ++j) dxr[j] = SoftmaxTerms::softmax_grad(yr[j], dyr[j], acc);
      } else {
#pragma omp simd reduction(+ : acc)
        for (int64_t j = 0; j < C; ++j) acc += dyr[j];
        for (int64_t j = 0; j < C; ++j)
          dxr[j] = SoftmaxTerms::log_softmax_grad(yr[j], dyr[j], acc);
      }
    }
  });
}

void CpuBackend::cross_entropy_forward(const Tensor& logits, const Tensor& labels,
                                       int32_t ignore_index, double smoothing,
                                       const Tensor& loss, const Tensor& lse) {
  int64_t C = logits.size(-1), R = logits.numel() / std::max<int64_t>(C, 1);
  cpu::dispatch_float(logits.dtype(), "cross_entropy", [&](auto tag) {
    using T = decltype(tag);
    const T* px = logits.data<T>();
    const int32_t* pl = labels.data<int32_t>();
    T *ploss = loss.data<T>(), *plse = lse.data<T>();
    T eps = static_cast<T>(smoothing), classes = static_cast<T>(C);
#pragma omp parallel for if (R * C > cpu::kParallelGrain)
    for (int64_t r = 0; r < R; ++r) {
      const T* xr = px + r * C;
      T mx = -std::numeric_limits<T>::infinity(), sx = 0;
#pragma omp simd reduction(max : mx) reduction(+ : sx)
      for (int64_t j = 0; j < C; ++j) {
        mx = xr[j] > mx ? xr[j] : mx;  // (not std::max: it does not vectorise)
        sx += xr[j];
      }
      T s = 0;
#pragma omp simd reduction(+ : s)
      for (int64_t j = 0; j < C; ++j) s += exp_of(xr[j] - mx);
      T l = mx + std::log(s);
      plse[r] = l;
      if (pl[r] == ignore_index) {
        ploss[r] = 0;
        continue;
      }
      T dot = CrossEntropyTerms::target_dot(xr[pl[r]], sx, eps, classes);
      ploss[r] = l - dot;
    }
  });
}

void CpuBackend::cross_entropy_backward(const Tensor& logits, const Tensor& labels,
                                        const Tensor& lse, const Tensor& dloss,
                                        int32_t ignore_index, double smoothing,
                                        const Tensor& dlogits) {
  int64_t C = logits.size(-1), R = logits.numel() / std::max<int64_t>(C, 1);
  cpu::dispatch_float(logits.dtype(), "cross_entropy_backward", [&](auto tag) {
    using T = decltype(tag);
    const T *px = logits.data<T>(), *plse = lse.data<T>(), *pd = dloss.data<T>();
    const int32_t* pl = labels.data<int32_t>();
    T* pg = dlogits.data<T>();
    T eps = static_cast<T>(smoothing), classes = static_cast<T>(C);
#pragma omp parallel for if (R * C > cpu::kParallelGrain)
    for (int64_t r = 0; r < R; ++r) {
      T* gr = pg + r * C;
      if (pl[r] == ignore_index) {
        std::fill(gr, gr + C, T(0));
        continue;
      }
      const T* xr = px + r * C;
      for (int64_t j = 0; j < C; ++j) {
        T q = CrossEntropyTerms::target_weight(j == pl[r], eps, classes);
        gr[j] = CrossEntropyTerms::logit_grad(xr[j], plse[r], q, pd[r]);
      }
    }
  });
}

}  // namespace st
