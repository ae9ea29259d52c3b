// Deterministic axis sums for CUDA kernels (private to backend/cuda):
//   out(o, i) = sum_j term(o, j, i)   for o < outer, j < r, i < inner   (out written, =)
// The r axis is cut into fixed chunks; each chunk is summed by a fixed tree (column kernels: 8
// row lanes per column and a shared-memory tree; row kernels (inner == 1): a block tree), and
// the chunk partials are summed again the same way. No atomics: results depend only on the
// shapes, never on scheduling.
#pragma once
#include "core/backend/cuda/cuda_common.cuh"

namespace st::cuda {

constexpr int kColumnLanes = 8;        // row lanes per column in the column kernel
constexpr int64_t kColumnChunk = 256;  // rows per chunk when inner > 1
constexpr int64_t kRowChunk = 8192;    // elements per chunk when inner == 1
constexpr int64_t kMaxGridYZ = 65535;

// term(o, j, i) = p[(o * r + j) * inner + i], converted to Acc.
template <class Acc, class In>
struct LoadTerm {
  const In* p;
  int64_t r, inner;
  __device__ Acc operator()(int64_t o, int64_t j, int64_t i) const {
    return static_cast<Acc>(p[(o * r + j) * inner + i]);
  }
};

// Grid (ceil(inner / 32), min(chunks, 65535), min(outer, 65535)), block (32, kColumnLanes).
// out[(o * chunks + c) * inner + i] = sum over rows of chunk c.
template <class Acc, class Out, class Term>
__global__ void column_sum_kernel(Term term, int64_t outer, int64_t r, int64_t inner,
                                  int64_t chunk, int64_t chunks, Out* __restrict__ out) {
  __shared__ Acc lanes[kColumnLanes][32];
  int tx = threadIdx.x, ty = threadIdx.y;
  int64_t i = blockIdx.x * int64_t(32) + tx;
  for (int64_t c = blockIdx.y; c < chunks; c += gridDim.y) {
    for (int64_t o = blockIdx.z; o < outer; o += gridDim.z) {
      Acc acc = Acc(0);
      if (i < inner) {
        int64_t end = min(r, (c + 1) * chunk);
        for (int64_t j = c * chunk + ty; j < end; j += kColumnLanes) acc += term(o, j, i);
      }
      lanes[ty][tx] = acc;
      __syncthreads();
      for (int s = kColumnLanes / 2; s > 0; s >>= 1) {
        if (ty < s) lanes[ty][tx] += lanes[ty + s][tx];
        __syncthreads();
      }
      if (ty == 0 && i < inner) out[(o * chunks + c) * inner + i] = static_cast<Out>(lanes[0][tx]);
      __syncthreads();  // lanes[0] is read before the next iteration overwrites it
    }
  }
}

// inner == 1. Grid (min(chunks, 65535), min(outer, 65535)), 1-D block (multiple of 32).
// out[o * chunks + c] = sum over elements of chunk c of row o.
template <class Acc, class Out, class Term>
__global__ void row_sum_kernel(Term term, int64_t outer, int64_t r, int64_t chunk,
                               int64_t chunks, Out* __restrict__ out) {
  for (int64_t c = blockIdx.x; c < chunks; c += gridDim.x) {
    for (int64_t o = blockIdx.y; o < outer; o += gridDim.y) {
      Acc acc = Acc(0);
      int64_t end = min(r, (c + 1) * chunk);
      for (int64_t j = c * chunk + threadIdx.x; j < end; j += blockDim.x) acc += term(o, j, 0);
      acc = block_sum(acc);
      if (threadIdx.x == 0) out[o * chunks + c] = static_cast<Out>(acc);
    }
  }
}

// out (outer, inner) = sums over r of term, accumulated in Acc; r >= 1. Enqueued on be's stream.
template <class Acc, class Out, class Term>
void axis_sum(CudaBackend& be, Term term, int64_t outer, int64_t r, int64_t inner, Out* out) {
  if (outer == 0 || inner == 0) return;
  int64_t chunk = inner == 1 ? kRowChunk : kColumnChunk;
  int64_t chunks = (r + chunk - 1) / chunk;
  auto launch = [&](auto* dst) {
    using D = std::remove_pointer_t<decltype(dst)>;
    if (inner == 1) {
      dim3 grid(static_cast<unsigned>(std::min(chunks, kMaxGridYZ)),
                static_cast<unsigned>(std::min(outer, kMaxGridYZ)));
      int threads = row_threads(std::min(r, chunk));
      row_sum_kernel<Acc, D, Term><<<grid, threads, 0, be.stream()>>>(term, outer, r, chunk,
                                                                     chunks, dst);
    } else {
      dim3 grid(static_cast<unsigned>((inner + 31) / 32),
                static_cast<unsigned>(std::min(chunks, kMaxGridYZ)),
                static_cast<unsigned>(std::min(outer, kMaxGridYZ)));
      dim3 block(32, kColumnLanes);
      column_sum_kernel<Acc, D, Term><<<grid, block, 0, be.stream()>>>(term, outer, r, inner,
                                                                       chunk, chunks, dst);
    }
    ST_CUDA_CHECK_LAUNCH();
  };
  if (chunks == 1) {
    launch(out);
    return;
  }
  // Chunk partials (outer, chunks, inner), then their sum over the chunk axis.
  ScratchBuffer partial(be.allocator(), static_cast<size_t>(outer * chunks * inner) * sizeof(Acc));
  launch(partial.as<Acc>());
  axis_sum<Acc, Out>(be, LoadTerm<Acc, Acc>{partial.as<Acc>(), chunks, inner}, outer, chunks,
                     inner, out);
}

}  // namespace st::cuda
