// CUDA row kernels on contiguous (R, C), f32/f64: LayerNorm forward/backward (also from a
// stored bf16 x̂), softmax and
// log-softmax forward/backward (a fully masked row gives 0 / -inf), fused softmax-cross-entropy.
// One block per row, fixed block trees for row sums; LayerNorm dw, db are deterministic column
// sums (cuda_reduce.cuh). Every output is written (=); the per-element math is core/math/rows.h.
#include "core/backend/cuda/cuda_reduce.cuh"
#include "core/math/bf16.h"
#include "core/math/rows.h"

#include <type_traits>

namespace st {

namespace {

using cuda::block_max;
using cuda::block_sum;
using cuda::max_of;

constexpr int64_t kMaxRowBlocks = int64_t(1) << 18;

unsigned row_grid(int64_t rows) {
  return static_cast<unsigned>(std::min<int64_t>(std::max<int64_t>(rows, 1), kMaxRowBlocks));
}

// Splits contiguous x (..., C) into R rows of C.
void rows_of(const Tensor& x, int64_t& R, int64_t& C) {
  C = x.dim() ? x.size(-1) : 1;
  R = x.numel() / std::max<int64_t>(C, 1);
}

// xhat: null, or (R, C) bf16 that also receives x̂ (T = float).
template <class T>
__global__ void layer_norm_forward_kernel(const T* __restrict__ x, const T* __restrict__ w,
                                          const T* __restrict__ b, T eps, T* __restrict__ y,
                                          T* __restrict__ mean, T* __restrict__ rstd,
                                          bf16* __restrict__ xhat, int64_t R, int64_t C) {
  for (int64_t row = blockIdx.x; row < R; row += gridDim.x) {
    const T* xr = x + row * C;
    T s = 0;
    for (int64_t j = threadIdx.x; j < C; j += blockDim.x) s += xr[j];
    T mu = block_sum(s) / static_cast<T>(C);
    T v = 0;
    for (int64_t j = threadIdx.x; j < C; j += blockDim.x) v += (xr[j] - mu) * (xr[j] - mu);
    T rs = LayerNormTerms::rstd(block_sum(v) / static_cast<T>(C), eps);
    if (threadIdx.x == 0) {
      mean[row] = mu;
      rstd[row] = rs;
    }
    T* yr = y + row * C;
    for (int64_t j = threadIdx.x; j < C; j += blockDim.x)
      yr[j] = LayerNormTerms::forward(xr[j], mu, rs, w[j], b[j]);
    if (xhat)
      for (int64_t j = threadIdx.x; j < C; j += blockDim.x)
        xhat[row * C + j] = float_to_bf16(static_cast<float>(LayerNormTerms::xhat(xr[j], mu, rs)));
  }
}

template <class T, class XHat>
__global__ void layer_norm_input_grad_kernel(XHat xhat_at, const T* __restrict__ w,
                                             const T* __restrict__ rstd,
                                             const T* __restrict__ dy, T* __restrict__ dx,
                                             int64_t R, int64_t C) {
  for (int64_t row = blockIdx.x; row < R; row += gridDim.x) {
    const T* dyr = dy + row * C;
    T rs = rstd[row];
    T sum_g = 0, sum_gx = 0;
    for (int64_t j = threadIdx.x; j < C; j += blockDim.x) {
      T g = dyr[j] * w[j];
      T xh = xhat_at(row, j);
      sum_g += g;
      sum_gx += g * xh;
    }
    T mg = block_sum(sum_g) / static_cast<T>(C);
    T mgx = block_sum(sum_gx) / static_cast<T>(C);
    T* dxr = dx + row * C;
    for (int64_t j = threadIdx.x; j < C; j += blockDim.x)
      dxr[j] = LayerNormTerms::input_grad(dyr[j] * w[j], T(xhat_at(row, j)), rs, mg, mgx);
  }
}

// dw(j) = sum_r dy(r, j) * x̂(r, j), as a term of the column sum.
template <class T, class XHat>
struct LayerNormWeightGradTerm {
  XHat xhat_at;
  const T* dy;
  int64_t C;
  __device__ T operator()(int64_t, int64_t r, int64_t j) const { return dy[r * C + j] * T(xhat_at(r, j)); }
};

template <class T>
__global__ void softmax_forward_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t R,
                                       int64_t C, bool log_softmax) {
  for (int64_t row = blockIdx.x; row < R; row += gridDim.x) {
    const T* xr = x + row * C;
    T* yr = y + row * C;
    T mx = T(-INFINITY);
    for (int64_t j = threadIdx.x; j < C; j += blockDim.x) mx = max_of(mx, xr[j]);
    mx = block_max(mx);
    if (mx == T(-INFINITY)) {  // fully masked row: softmax 0, log-softmax -inf
      T fill = log_softmax ? T(-INFINITY) : T(0);
      for (int64_t j = threadIdx.x; j < C; j += blockDim.x) yr[j] = fill;
      continue;  // the same branch for the whole block
    }
    T s = 0;
    for (int64_t j = threadIdx.x; j < C; j += blockDim.x) s += exp_of(xr[j] - mx);
    s = block_sum(s);
    if (!log_softmax) {
      T inv = T(1) / s;
      for (int64_t j = threadIdx.x; j < C; j += blockDim.x) yr[j] = exp_of(xr[j] - mx) * inv;
    } else {
      T ls = mx + log(s);
      for (int64_t j = threadIdx.x; j < C; j += blockDim.x) yr[j] = xr[j] - ls;
    }
  }
}

template <class T>
__global__ void softmax_backward_kernel(const T* __restrict__ y, const T* __restrict__ dy,
                                        T* __restrict__ dx, int64_t R, int64_t C,
                                        bool log_softmax) {
  for (int64_t row = blockIdx.x; row < R; row += gridDim.x) {
    const T *yr = y + row * C, *dyr = dy + row * C;
    T* dxr = dx + row * C;
    T acc = 0;
    if (!log_softmax) {
      for (int64_t j = threadIdx.x; j < C; j += blockDim.x) acc += dyr[j] * yr[j];
      acc = block_sum(acc);
      for (int64_t j = threadIdx.x; j < C; j += blockDim.x)
        dxr[j] = SoftmaxTerms::softmax_grad(yr[j], dyr[j], acc);
    } else {
      for (int64_t j = threadIdx.x; j < C; j += blockDim.x) acc += dyr[j];
      acc = block_sum(acc);
      for (int64_t j = threadIdx.x; j < C; j += blockDim.x)
        dxr[j] = SoftmaxTerms::log_softmax_grad(yr[j], dyr[j], acc);
    }
  }
}

template <class T>
__global__ void cross_entropy_forward_kernel(const T* __restrict__ x,
                                             const int32_t* __restrict__ labels,
                                             int32_t ignore_index, T eps, T* __restrict__ loss,
                                             T* __restrict__ lse, int64_t R, int64_t C) {
  T classes = static_cast<T>(C);
  for (int64_t row = blockIdx.x; row < R; row += gridDim.x) {
    const T* xr = x + row * C;
    T mx = T(-INFINITY), sx = 0;
    for (int64_t j = threadIdx.x; j < C; j += blockDim.x) {
      mx = max_of(mx, xr[j]);
      sx += xr[j];
    }
    mx = block_max(mx);
    sx = block_sum(sx);
    T s = 0;
    for (int64_t j = threadIdx.x; j < C; j += blockDim.x) s += exp_of(xr[j] - mx);
    T l = mx + log(block_sum(s));
    if (threadIdx.x == 0) {
      lse[row] = l;
      int32_t label = labels[row];
      // A label outside [0, C) (an error raised at the next host read) counts as ignored.
      loss[row] = label == ignore_index || label < 0 || label >= C
                      ? T(0)
                      : l - CrossEntropyTerms::target_dot(xr[label], sx, eps, classes);
    }
  }
}

template <class T>
__global__ void cross_entropy_backward_kernel(const T* __restrict__ x,
                                              const int32_t* __restrict__ labels,
                                              const T* __restrict__ lse,
                                              const T* __restrict__ dloss, int32_t ignore_index,
                                              T eps, T* __restrict__ dx, int64_t R, int64_t C) {
  T classes = static_cast<T>(C);
  int64_t n = R * C;
  ST_CUDA_GRID_STRIDE(i, n) {
    int64_t row = i / C, j = i - row * C;
    int32_t label = labels[row];
    if (label == ignore_index || label < 0 || label >= C) {  // out of range: an error raised later
      dx[i] = T(0);
      continue;
    }
    T q = CrossEntropyTerms::target_weight(j == label, eps, classes);
    dx[i] = CrossEntropyTerms::logit_grad(x[i], lse[row], q, dloss[row]);
  }
}

}  // namespace

void CudaBackend::layer_norm_forward(const Tensor& x, const Tensor& w, const Tensor& b,
                                     double eps, const Tensor& y, const Tensor& mean,
                                     const Tensor& rstd, const Tensor& xhat) {
  int64_t R, C;
  rows_of(x, R, C);
  ST_CHECK(!xhat.defined() || (xhat.dtype() == DType::BF16 && x.dtype() == DType::F32 && xhat.numel() == x.numel()),
           "layer_norm_forward: xhat must be bf16 of the f32 input's size, got ", xhat.dtype(), " ", xhat.shape());
  if (R == 0 || C == 0) return;
  cuda::DeviceGuard guard(index_);
  bf16* pxh = xhat.defined() ? xhat.data<bf16>() : nullptr;
  cuda::dispatch_float(x.dtype(), "layer_norm", [&](auto tag) {
    using T = decltype(tag);
    layer_norm_forward_kernel<T><<<row_grid(R), cuda::row_threads(C), 0, stream_>>>(
        x.data<T>(), w.data<T>(), b.data<T>(), static_cast<T>(eps), y.data<T>(), mean.data<T>(),
        rstd.data<T>(), pxh, R, C);
    ST_CUDA_CHECK_LAUNCH();
  });
}

void CudaBackend::layer_norm_backward(const Tensor& x, const Tensor& w, const Tensor& mean,
                                      const Tensor& rstd, const Tensor& dy, const Tensor& dx,
                                      const Tensor& dw, const Tensor& db) {
  int64_t R, C;
  rows_of(x, R, C);
  bool stored = x.dtype() == DType::BF16;
  ST_CHECK(x.dtype() == dy.dtype() || (stored && dy.dtype() == DType::F32), "layer_norm_backward: x ", x.dtype(),
           " with gradient ", dy.dtype(), " (x is the gradient's dtype, or a bf16 x̂ with f32)");
  if (C == 0) return;
  if (R == 0) {
    fill(dw, 0.0);
    fill(db, 0.0);
    return;
  }
  cuda::DeviceGuard guard(index_);
  cuda::dispatch_float(dy.dtype(), "layer_norm_backward", [&](auto tag) {
    using T = decltype(tag);
    const T *pr = rstd.data<T>(), *pdy = dy.data<T>();
    auto run = [&](auto xhat_at) {
      using XHat = decltype(xhat_at);
      layer_norm_input_grad_kernel<T, XHat><<<row_grid(R), cuda::row_threads(C), 0, stream_>>>(
          xhat_at, w.data<T>(), pr, pdy, dx.data<T>(), R, C);
      ST_CUDA_CHECK_LAUNCH();
      cuda::axis_sum<T, T>(*this, LayerNormWeightGradTerm<T, XHat>{xhat_at, pdy, C}, 1, R, C, dw.data<T>());
      cuda::axis_sum<T, T>(*this, cuda::LoadTerm<T, T>{pdy, R, C}, 1, R, C, db.data<T>());
    };
    if constexpr (std::is_same_v<T, float>) {
      if (stored) {
        run(LayerNormXhatFromStored{x.data<bf16>(), C});
        return;
      }
    }
    run(LayerNormXhatFromInput<T>{x.data<T>(), mean.data<T>(), pr, C});
  });
}

void CudaBackend::softmax_forward(SoftmaxKind kind, const Tensor& x, const Tensor& y) {
  int64_t R, C;
  rows_of(x, R, C);
  if (R == 0 || C == 0) return;
  cuda::DeviceGuard guard(index_);
  cuda::dispatch_float(x.dtype(), "softmax", [&](auto tag) {
    using T = decltype(tag);
    softmax_forward_kernel<T><<<row_grid(R), cuda::row_threads(C), 0, stream_>>>(
        x.data<T>(), y.data<T>(), R, C, kind == SoftmaxKind::LogSoftmax);
    ST_CUDA_CHECK_LAUNCH();
  });
}

void CudaBackend::softmax_backward(SoftmaxKind kind, const Tensor& y, const Tensor& dy,
                                   const Tensor& dx) {
  int64_t R, C;
  rows_of(y, R, C);
  if (R == 0 || C == 0) return;
  cuda::DeviceGuard guard(index_);
  cuda::dispatch_float(y.dtype(), "softmax_backward", [&](auto tag) {
    using T = decltype(tag);
    softmax_backward_kernel<T><<<row_grid(R), cuda::row_threads(C), 0, stream_>>>(
        y.data<T>(), dy.data<T>(), dx.data<T>(), R, C, kind == SoftmaxKind::LogSoftmax);
    ST_CUDA_CHECK_LAUNCH();
  });
}

void CudaBackend::cross_entropy_forward(const Tensor& logits, const Tensor& labels,
                                        int32_t ignore_index, double smoothing,
                                        const Tensor& loss, const Tensor& lse) {
  int64_t R, C;
  rows_of(logits, R, C);
  if (R == 0 || C == 0) return;
  ST_CHECK(labels.numel() == R, "cross_entropy: ", labels.numel(), " labels for logits ",
           logits.shape());
  cuda::DeviceGuard guard(index_);
  cuda::dispatch_float(logits.dtype(), "cross_entropy", [&](auto tag) {
    using T = decltype(tag);
    cross_entropy_forward_kernel<T><<<row_grid(R), cuda::row_threads(C), 0, stream_>>>(
        logits.data<T>(), labels.data<int32_t>(), ignore_index, static_cast<T>(smoothing),
        loss.data<T>(), lse.data<T>(), R, C);
    ST_CUDA_CHECK_LAUNCH();
  });
}

void CudaBackend::cross_entropy_backward(const Tensor& logits, const Tensor& labels,
                                         const Tensor& lse, const Tensor& dloss,
                                         int32_t ignore_index, double smoothing,
                                         const Tensor& dlogits) {
  int64_t R, C;
  rows_of(logits, R, C);
  if (R == 0 || C == 0) return;
  ST_CHECK(labels.numel() == R, "cross_entropy_backward: ", labels.numel(),
           " labels for logits ", logits.shape());
  cuda::DeviceGuard guard(index_);
  cuda::dispatch_float(logits.dtype(), "cross_entropy_backward", [&](auto tag) {
    using T = decltype(tag);
    cross_entropy_backward_kernel<T><<<cuda::grid_for(R * C), cuda::kThreads, 0, stream_>>>(
        logits.data<T>(), labels.data<int32_t>(), lse.data<T>(), dloss.data<T>(), ignore_index,
        static_cast<T>(smoothing), dlogits.data<T>(), R, C);
    ST_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace st
