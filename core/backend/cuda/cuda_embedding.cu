// CUDA embedding kernels (f32, f64). Forward gathers rows: out (T, D) = table[ids] (=). Backward
// adds into dtable (V, D) (+=) without atomics: positions stably sorted by id (CUB radix sort),
// then each run of equal ids adds its dout rows in token order, as the CPU does (deterministic).
#include <cub/device/device_radix_sort.cuh>

#include <climits>

#include "core/backend/cuda/cuda_common.cuh"

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

// sorted_ids / positions: token positions stably sorted by id. Block s handles the run of equal
// ids that starts at sorted index s (other blocks exit): dtable[id] += dout rows, in token order.
template <class E>
__global__ void scatter_runs_kernel(const uint32_t* __restrict__ sorted_ids,
                                    const int32_t* __restrict__ positions,
                                    const E* __restrict__ dout, E* __restrict__ dtable,
                                    int64_t tokens, int64_t D, int64_t V) {
  for (int64_t s = blockIdx.x; s < tokens; s += gridDim.x) {
    uint32_t id = sorted_ids[s];
    if (s > 0 && sorted_ids[s - 1] == id) continue;  // not the start of a run
    if (id >= V) continue;  // an id out of range (an error raised at the next host read): no write
    E* row = dtable + static_cast<int64_t>(id) * D;
    for (int64_t j = threadIdx.x; j < D; j += blockDim.x) {
      E acc = row[j];
      for (int64_t k = s; k < tokens && sorted_ids[k] == id; ++k)
        acc += dout[static_cast<int64_t>(positions[k]) * D + j];
      row[j] = acc;
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
  cuda::dispatch_float(dtable.dtype(), "embedding_backward", [&](auto tag) {
    using E = decltype(tag);
    unsigned blocks = static_cast<unsigned>(std::min(tokens, kMaxRunBlocks));
    scatter_runs_kernel<E><<<blocks, cuda::row_threads(D), 0, stream_>>>(
        keys_out.as<uint32_t>(), positions_out.as<int32_t>(), dout.data<E>(), dtable.data<E>(),
        tokens, D, V);
    ST_CUDA_CHECK_LAUNCH();
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
