// CUDA embedding kernels (f32, f64). Forward gathers rows: out (T, D) = table[ids] (=). Backward
// adds into dtable (V, D) (+=) without atomics, in the order core/math/segments.h defines (bitwise
// equal to the CPU): positions stably sorted by id (CUB radix sort); one block per piece of
// kSegmentPiece sorted indices sums each run's part in that piece; a run that fits in one piece is
// added to its row at once, the parts of a longer run are kept and added up by a second kernel.
#include <cub/device/device_radix_sort.cuh>

#include <climits>

#include "core/backend/cuda/cuda_common.cuh"
#include "core/math/segments.h"

namespace st {

namespace {

using cuda::grid_for;
using cuda::kThreads;

constexpr int64_t kMaxRunBlocks = int64_t(1) << 20;

// An id outside [0, V) (an error the range check raises at the next host read) gives zeros.
template <class E>
__global__ void gather_rows_kernel(const E* __restrict__ table, const int32_t* __restrict__ ids,
                                   E* __restrict__ out, int64_t tokens, int64_t D, int64_t V) {
  int64_t n = tokens * D;
  ST_CUDA_GRID_STRIDE(i, n) {
    int64_t t = i / D, j = i - t * D;
    int64_t id = ids[t];
    out[i] = id >= 0 && id < V ? table[id * D + j] : E(0);
  }
}

__global__ void iota_kernel(int32_t* __restrict__ p, int64_t n) {
  ST_CUDA_GRID_STRIDE(i, n) p[i] = static_cast<int32_t>(i);
}

// sorted_ids / positions: token positions stably sorted by id. Block c handles piece c, sorted
// indices [c·P, (c+1)·P) with P = kSegmentPiece; each thread walks them for its columns, summing
// each run's part from 0. A part that is a whole run is added to dtable[id]; the part of a run
// that began in an earlier piece goes to head (c, D), the part of one that goes on past this
// piece (and began in it) to tail (c, D).
template <class E>
__global__ void piece_sums_kernel(const uint32_t* __restrict__ sorted_ids,
                                  const int32_t* __restrict__ positions,
                                  const E* __restrict__ dout, E* __restrict__ dtable,
                                  E* __restrict__ head, E* __restrict__ tail, int64_t tokens,
                                  int64_t D, int64_t V) {
  int64_t pieces = (tokens + kSegmentPiece - 1) / kSegmentPiece;
  for (int64_t c = blockIdx.x; c < pieces; c += gridDim.x) {
    int64_t begin = c * kSegmentPiece, end = min(begin + kSegmentPiece, tokens);
    for (int64_t j = threadIdx.x; j < D; j += blockDim.x) {
      for (int64_t a = begin; a < end;) {
        uint32_t id = sorted_ids[a];
        int64_t b = a + 1;
        while (b < end && sorted_ids[b] == id) ++b;
        E acc = E(0);
        for (int64_t k = a; k < b; ++k) acc += dout[static_cast<int64_t>(positions[k]) * D + j];
        bool began_before = a == begin && a > 0 && sorted_ids[a - 1] == id;
        bool goes_on = b == end && b < tokens && sorted_ids[b] == id;
        if (began_before)
          head[c * D + j] = acc;
        else if (goes_on)
          tail[c * D + j] = acc;
        else if (id < V)  // an id out of range (raised at the next host read): no write
          dtable[static_cast<int64_t>(id) * D + j] += acc;
        a = b;
      }
    }
  }
}

// Block c finishes the run that spans pieces first..c and ends in piece c, if there is one:
// dtable[id] += ((0 + tail[first]) + head[first + 1]) + ... + head[c].
template <class E>
__global__ void long_runs_kernel(const uint32_t* __restrict__ sorted_ids,
                                 const E* __restrict__ head, const E* __restrict__ tail,
                                 E* __restrict__ dtable, int64_t tokens, int64_t D, int64_t V) {
  int64_t pieces = (tokens + kSegmentPiece - 1) / kSegmentPiece;
  for (int64_t c = blockIdx.x; c < pieces; c += gridDim.x) {
    int64_t begin = c * kSegmentPiece, end = min(begin + kSegmentPiece, tokens);
    if (begin == 0) continue;
    uint32_t id = sorted_ids[begin];
    if (sorted_ids[begin - 1] != id) continue;  // no run comes into this piece
    if (end < tokens && sorted_ids[end - 1] == id && sorted_ids[end] == id) continue;  // goes on
    if (id >= V) continue;
    int64_t first = c - 1;
    while (first > 0 && sorted_ids[first * kSegmentPiece - 1] == id) --first;
    for (int64_t j = threadIdx.x; j < D; j += blockDim.x) {
      E total = E(0);
      total += tail[first * D + j];
      for (int64_t p = first + 1; p <= c; ++p) total += head[p * D + j];
      dtable[static_cast<int64_t>(id) * D + j] += total;
    }
  }
}

__global__ void first_out_of_range_kernel(const int32_t* __restrict__ ids, int64_t n,
                                          int64_t rows, unsigned long long* first) {
  ST_CUDA_GRID_STRIDE(i, n) {
    int32_t v = ids[i];
    if (v < 0 || v >= rows) atomicMin(first, static_cast<unsigned long long>(i));
  }
}

}  // namespace

void CudaBackend::embedding_forward(const Tensor& table, const Tensor& ids, const Tensor& out) {
  int64_t D = table.size(1), tokens = ids.numel();
  if (tokens == 0 || D == 0) return;
  cuda::DeviceGuard guard(index_);
  cuda::dispatch_float(table.dtype(), "embedding", [&](auto tag) {
    using E = decltype(tag);
    gather_rows_kernel<E><<<grid_for(tokens * D), kThreads, 0, stream_>>>(
        table.data<E>(), ids.data<int32_t>(), out.data<E>(), tokens, D, table.size(0));
    ST_CUDA_CHECK_LAUNCH();
  });
}

void CudaBackend::embedding_backward(const Tensor& ids, const Tensor& dout,
                                     const Tensor& dtable) {
  int64_t V = dtable.size(0), D = dtable.size(1), tokens = ids.numel();
  if (tokens == 0 || D == 0) return;
  ST_CHECK(tokens <= INT_MAX, "embedding_backward: ", tokens, " ids exceed the ", INT_MAX,
           " supported by the CUDA sort");
  ST_CHECK(dout.numel() == tokens * D, "embedding_backward: dout ", dout.shape(), " for ",
           tokens, " ids and a table of shape ", dtable.shape());
  cuda::DeviceGuard guard(index_);
  // Valid ids are in [0, V), so as unsigned keys they sort in the same order and only the low
  // bits of V - 1 take part. Ids out of range (an error the range check raises at the next host
  // read) may break runs apart, so such a gradient is garbage, but nothing is written out of
  // bounds.
  int end_bit = 1;
  while (end_bit < 32 && (static_cast<uint64_t>(V - 1) >> end_bit) != 0) ++end_bit;
  int count = static_cast<int>(tokens);
  const uint32_t* keys_in = reinterpret_cast<const uint32_t*>(ids.data<int32_t>());
  cuda::ScratchBuffer keys_out(*allocator_, sizeof(uint32_t) * tokens);
  cuda::ScratchBuffer positions_in(*allocator_, sizeof(int32_t) * tokens);
  cuda::ScratchBuffer positions_out(*allocator_, sizeof(int32_t) * tokens);
  iota_kernel<<<grid_for(tokens), kThreads, 0, stream_>>>(positions_in.as<int32_t>(), tokens);
  ST_CUDA_CHECK_LAUNCH();
  size_t temp_bytes = 0;
  ST_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(
      nullptr, temp_bytes, keys_in, keys_out.as<uint32_t>(), positions_in.as<int32_t>(),
      positions_out.as<int32_t>(), count, 0, end_bit, stream_));
  cuda::ScratchBuffer temp(*allocator_, std::max<size_t>(temp_bytes, 1));
  ST_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(
      temp.as<void>(), temp_bytes, keys_in, keys_out.as<uint32_t>(), positions_in.as<int32_t>(),
      positions_out.as<int32_t>(), count, 0, end_bit, stream_));
  int64_t pieces = (tokens + kSegmentPiece - 1) / kSegmentPiece;
  unsigned blocks = static_cast<unsigned>(std::min(pieces, kMaxRunBlocks));
  cuda::dispatch_float(dtable.dtype(), "embedding_backward", [&](auto tag) {
    using E = decltype(tag);
    cuda::ScratchBuffer head(*allocator_, sizeof(E) * pieces * D);
    cuda::ScratchBuffer tail(*allocator_, sizeof(E) * pieces * D);
    piece_sums_kernel<E><<<blocks, cuda::row_threads(D), 0, stream_>>>(
        keys_out.as<uint32_t>(), positions_out.as<int32_t>(), dout.data<E>(), dtable.data<E>(),
        head.as<E>(), tail.as<E>(), tokens, D, V);
    ST_CUDA_CHECK_LAUNCH();
    if (pieces > 1) {
      long_runs_kernel<E><<<blocks, cuda::row_threads(D), 0, stream_>>>(
          keys_out.as<uint32_t>(), head.as<E>(), tail.as<E>(), dtable.data<E>(), tokens, D, V);
      ST_CUDA_CHECK_LAUNCH();
    }
  });
}

int64_t CudaBackend::find_out_of_range(const Tensor& ids, int64_t rows) {
  int64_t n = ids.numel();
  if (n == 0) return -1;
  cuda::DeviceGuard guard(index_);
  cuda::ScratchBuffer first(*allocator_, sizeof(unsigned long long));
  ST_CUDA_CHECK(cudaMemsetAsync(first.as<void>(), 0xff, sizeof(unsigned long long), stream_));
  first_out_of_range_kernel<<<grid_for(n), kThreads, 0, stream_>>>(
      ids.data<int32_t>(), n, rows, first.as<unsigned long long>());
  ST_CUDA_CHECK_LAUNCH();
  unsigned long long host = ULLONG_MAX;
  ST_CUDA_CHECK(cudaMemcpyAsync(&host, first.as<void>(), sizeof(host), cudaMemcpyDeviceToHost,
                                stream_));
  ST_CUDA_CHECK(cudaStreamSynchronize(stream_));
  return host == ULLONG_MAX ? -1 : static_cast<int64_t>(host);
}

}  // namespace st
