// Helpers for the CUDA kernels (private to backend/cuda): launch geometry, dtype dispatch,
// strided indexing with StridedLayout, layout coalescing, scratch buffers from the device
// allocator, and deterministic warp/block reductions (fixed shuffle trees, no atomics).
#pragma once
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "core/backend/cuda/cuda_backend.h"
#include "core/backend/cuda/cuda_check.h"

namespace st::cuda {

// ---- launch geometry ----------------------------------------------------------------------
constexpr int kThreads = 256;          // threads per block of the elementwise kernels
constexpr int64_t kMaxBlocks = 8192;   // grid-stride loops cover the rest

inline unsigned grid_for(int64_t n, int threads = kThreads) {
  int64_t blocks = (n + threads - 1) / threads;
  return static_cast<unsigned>(std::clamp<int64_t>(blocks, 1, kMaxBlocks));
}

// for (int64_t i = global thread index; i < n; i += total threads)
#define ST_CUDA_GRID_STRIDE(i, n)                                            \
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (n); \
       i += int64_t(gridDim.x) * blockDim.x)

// Threads per block of a one-block-per-row kernel over rows of length C (a multiple of 32).
inline int row_threads(int64_t C) {
  if (C <= 64) return 32;
  if (C <= 512) return 128;
  return 256;
}

// ---- dtype dispatch -----------------------------------------------------------------------
template <class F>
void dispatch_float(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::F32: f(float{}); break;
    case DType::F64: f(double{}); break;
    default: ST_THROW(op, ": dtype ", t, " is not supported on cuda (f32 or f64)");
  }
}

template <class F>
void dispatch_any(DType t, F&& f) {
  switch (t) {
    case DType::F32: f(float{}); break;
    case DType::F64: f(double{}); break;
    case DType::BF16: f(bf16{}); break;
    case DType::I32: f(int32_t{}); break;
  }
}

// ---- element conversion (the rules of the CPU backend's fill and copy) ----------------------
template <class T>
__host__ __device__ __forceinline__ double load_as_double(T v) { return static_cast<double>(v); }
__host__ __device__ __forceinline__ double load_as_double(bf16 v) { return bf16_to_float(v); }

template <class T>
__host__ __device__ __forceinline__ T store_from_double(double v) {
  if constexpr (std::is_same_v<T, bf16>) return float_to_bf16(static_cast<float>(v));
  else return static_cast<T>(v);
}

template <class D, class S>
__host__ __device__ __forceinline__ D convert(S s) {
  if constexpr (std::is_same_v<D, S>) return s;
  else return store_from_double<D>(load_as_double(s));
}

// ---- strided indexing ---------------------------------------------------------------------
// Offset (elements) of the element with row-major flat index i in layout l.
__device__ __forceinline__ int64_t strided_offset(const StridedLayout& l, int64_t i) {
  int64_t off = 0;
  for (int d = l.ndim - 1; d >= 0; --d) {
    int64_t n = l.shape[d];
    int64_t q = i / n;
    off += (i - q * n) * l.strides[d];
    i = q;
  }
  return off;
}

// Rewrites layouts of one shape into an equivalent layout with fewer dimensions: drops size-1
// dimensions and merges neighbours that are contiguous with each other in every layout.
inline void coalesce(StridedLayout* layouts, int count) {
  int nd = layouts[0].ndim;
  int out = 0;
  for (int d = 0; d < nd; ++d) {
    int64_t size = layouts[0].shape[d];
    if (size == 1) continue;
    bool merge = out > 0;
    for (int k = 0; k < count && merge; ++k)
      merge = layouts[k].strides[out - 1] == layouts[k].strides[d] * size;
    for (int k = 0; k < count; ++k) {
      StridedLayout& l = layouts[k];
      if (merge) {
        l.shape[out - 1] *= size;
        l.strides[out - 1] = l.strides[d];
      } else {
        l.shape[out] = size;
        l.strides[out] = l.strides[d];
      }
    }
    if (!merge) ++out;
  }
  for (int k = 0; k < count; ++k) layouts[k].ndim = out;
}

// ---- scratch memory -----------------------------------------------------------------------
// Stream-ordered scratch from the backend's allocator, released (stream-ordered) at scope end,
// so it stays valid for every kernel enqueued before that.
class ScratchBuffer {
 public:
  ScratchBuffer(CudaAllocator& alloc, size_t bytes)
      : alloc_(alloc), bytes_(bytes), ptr_(alloc.allocate(bytes)) {}
  ~ScratchBuffer() { alloc_.deallocate(ptr_, bytes_); }
  ScratchBuffer(const ScratchBuffer&) = delete;
  ScratchBuffer& operator=(const ScratchBuffer&) = delete;
  template <class T> T* as() const { return static_cast<T*>(ptr_); }

 private:
  CudaAllocator& alloc_;
  size_t bytes_;
  void* ptr_;
};

// ---- deterministic reductions -------------------------------------------------------------
// Butterfly (xor) trees: every lane ends with the same, bitwise identical value.
template <class T>
__device__ __forceinline__ T warp_sum(T v) {
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;
}

template <class T>
__device__ __forceinline__ T max_of(T a, T b) { return a < b ? b : a; }

template <class T>
__device__ __forceinline__ T warp_max(T v) {
  for (int off = 16; off > 0; off >>= 1) v = max_of(v, __shfl_xor_sync(0xffffffffu, v, off));
  return v;
}

// Sum (or max) of one value per thread over the block, returned to every thread. blockDim.x
// must be a multiple of 32 (at most 1024) and every thread of the block must call it.
template <class T>
__device__ T block_sum(T v) {
  __shared__ T partial[32];
  __shared__ T total;
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();  // a previous call's readers are done with `partial` and `total`
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  if (warp == 0) {
    T w = lane < warps ? partial[lane] : T(0);
    w = warp_sum(w);
    if (lane == 0) total = w;
  }
  __syncthreads();
  return total;
}

template <class T>
__device__ T block_max(T v) {
  __shared__ T partial[32];
  __shared__ T total;
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  if (warp == 0) {
    T w = lane < warps ? partial[lane] : T(-INFINITY);
    w = warp_max(w);
    if (lane == 0) total = w;
  }
  __syncthreads();
  return total;
}

}  // namespace st::cuda
