// CUDA label kernels: compare_scalar and attention_scale (elementwise, =) and argmax_hit_rows (one block per row:
// each thread scans a strided slice of the row, then a shared-memory tree keeps the winner by
// argmax_beats, so the first largest element wins whatever the order; =). The math is
// core/math/labels.h's and core/math/attention_scale.h's.
#include "core/backend/cuda/cuda_common.cuh"
#include "core/math/labels.h"

namespace st {

namespace {

using cuda::grid_for;
using cuda::kThreads;

template <class O>
__global__ void compare_scalar_kernel(const int32_t* __restrict__ x, int32_t value, bool equal,
                                      O* __restrict__ out, int64_t n) {
  ST_CUDA_GRID_STRIDE(i, n) out[i] = static_cast<O>(compare_result(x[i], value, equal));
}

template <class E>
__global__ void attention_scale_kernel(const double* __restrict__ n, ScaleMode mode, double head_dim,
                                       E* __restrict__ out, int64_t count) {
  ST_CUDA_GRID_STRIDE(i, count) out[i] = static_cast<E>(st::attention_scale(mode, n[i], head_dim));
}

// first = min(first, i) over the elements outside [lo, hi) other than `allowed`.
__global__ void first_bad_kernel(const int32_t* __restrict__ x, int64_t n, int64_t lo, int64_t hi,
                                 int64_t allowed, unsigned long long* first) {
  ST_CUDA_GRID_STRIDE(i, n) {
    int64_t v = x[i];
    if (v != allowed && (v < lo || v >= hi)) atomicMin(first, static_cast<unsigned long long>(i));
  }
}

__global__ void bad_value_kernel(const int32_t* __restrict__ x, const unsigned long long* first,
                                 long long* value) {
  if (*first != ~0ull) *value = x[*first];
}

constexpr int kArgmaxThreads = 256;
constexpr int64_t kMaxRowBlocks = int64_t(1) << 16;

template <class E>
__global__ void argmax_hit_rows_kernel(const E* __restrict__ logits, const int32_t* __restrict__ labels,
                                       int32_t ignore, double* __restrict__ out, int64_t R, int64_t C) {
  __shared__ E best_v[kArgmaxThreads];
  __shared__ int64_t best_i[kArgmaxThreads];
  int t = threadIdx.x;
  for (int64_t r = blockIdx.x; r < R; r += gridDim.x) {
    const E* row = logits + r * C;
    E v = row[0];
    int64_t i = 0;
    for (int64_t c = t; c < C; c += kArgmaxThreads)
      if (argmax_beats(row[c], c, v, i)) { v = row[c]; i = c; }
    best_v[t] = v;
    best_i[t] = i;
    __syncthreads();
    for (int half = kArgmaxThreads / 2; half > 0; half /= 2) {
      if (t < half && argmax_beats(best_v[t + half], best_i[t + half], best_v[t], best_i[t])) {
        best_v[t] = best_v[t + half];
        best_i[t] = best_i[t + half];
      }
      __syncthreads();
    }
    if (t == 0) out[r] = labels[r] != ignore && best_i[0] == labels[r] ? 1.0 : 0.0;
    __syncthreads();  // the next row reuses the shared arrays
  }
}

}  // namespace

void CudaBackend::compare_scalar(CompareOp op, const Tensor& x, int32_t value, const Tensor& out) {
  int64_t n = x.numel();
  if (n == 0) return;
  cuda::DeviceGuard guard(index_);
  bool equal = op == CompareOp::Equal;
  auto launch = [&](auto* po) {
    compare_scalar_kernel<<<grid_for(n), kThreads, 0, stream_>>>(x.data<int32_t>(), value, equal, po, n);
    ST_CUDA_CHECK_LAUNCH();
  };
  switch (out.dtype()) {
    case DType::F32: launch(out.data<float>()); break;
    case DType::F64: launch(out.data<double>()); break;
    case DType::I32: launch(out.data<int32_t>()); break;
    default: ST_THROW("compare_scalar: output dtype ", out.dtype(), " (f32, f64 or i32)");
  }
}

void CudaBackend::check_range(const Tensor& x, int64_t lo, int64_t hi, int64_t allowed, const RangeCheck& msg) {
  int64_t n = x.numel();
  if (n == 0) return;
  cuda::DeviceGuard guard(index_);
  if (deferred_checks_.size() == kMaxDeferredChecks) {  // full: wait for the device and raise now
    note_host_read();
    synchronize();
    raise_deferred_failures();
  }
  size_t slot = deferred_checks_.size();
  ST_CUDA_CHECK(cudaMemsetAsync(deferred_first_ + slot, 0xff, sizeof(unsigned long long), stream_));
  first_bad_kernel<<<grid_for(n), kThreads, 0, stream_>>>(x.data<int32_t>(), n, lo, hi, allowed,
                                                          deferred_first_ + slot);
  ST_CUDA_CHECK_LAUNCH();
  bad_value_kernel<<<1, 1, 0, stream_>>>(x.data<int32_t>(), deferred_first_ + slot, deferred_value_ + slot);
  ST_CUDA_CHECK_LAUNCH();
  deferred_checks_.push_back(msg);
}

void CudaBackend::attention_scale(const Tensor& n, ScaleMode mode, double head_dim, const Tensor& out) {
  int64_t count = n.numel();
  if (count == 0) return;
  cuda::DeviceGuard guard(index_);
  cuda::dispatch_float(out.dtype(), "attention_scale", [&](auto tag) {
    using E = decltype(tag);
    attention_scale_kernel<E><<<grid_for(count), kThreads, 0, stream_>>>(n.data<double>(), mode, head_dim,
                                                                          out.data<E>(), count);
    ST_CUDA_CHECK_LAUNCH();
  });
}

void CudaBackend::argmax_hit_rows(const Tensor& logits, const Tensor& labels, int32_t ignore, const Tensor& out) {
  int64_t R = logits.size(0), C = logits.size(1);
  if (R == 0) return;
  cuda::DeviceGuard guard(index_);
  unsigned blocks = static_cast<unsigned>(std::min(R, kMaxRowBlocks));
  cuda::dispatch_float(logits.dtype(), "argmax_hit_rows", [&](auto tag) {
    using E = decltype(tag);
    argmax_hit_rows_kernel<E><<<blocks, kArgmaxThreads, 0, stream_>>>(
        logits.data<E>(), labels.data<int32_t>(), ignore, out.data<double>(), R, C);
    ST_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace st
