// CUDA multi-tensor kernels: AdamW, the sum of squares behind the global gradient norm, and an
// in-place scale (x *= alpha), each over a whole list of contiguous tensors in one launch.
// Each call builds a table on the host, [entries (one per tensor)][chunks], and uploads it
// with one async copy into stream-ordered scratch: a chunk is kChunk consecutive elements of
// one tensor, and one block works on one chunk at a time (grid-stride over chunks).
// Sum of squares: chunk partials in double by a fixed block tree, then one block adds each
// tensor's partials (a fixed tree), rounds that sum to the tensor's dtype and adds it to the
// total in list order: no atomics, one 8-byte device-to-host read per call.
#include <cstring>
#include <memory>
#include <vector>

#include "core/backend/cuda/cuda_common.cuh"
#include "core/math/fused.h"

namespace st {

namespace {

constexpr int64_t kChunk = 16384;  // elements per chunk

struct Chunk {
  int32_t tensor;  // entry index
  int32_t index;   // elements [index * kChunk, min(n, (index + 1) * kChunk)) of the tensor
};

struct AdamWEntry {
  float* p;
  float* m;
  float* v;
  const float* g;
  int64_t n;
  AdamWStep step;
};

template <class T>
struct ListEntry {
  T* x;
  int64_t n;
  int64_t first_chunk;  // index of the tensor's first chunk in the chunk table
};

// Host side of a table: entries then chunks in one buffer, copied once to the device.
template <class Entry>
class DeviceTable {
 public:
  DeviceTable(CudaBackend& be, const std::vector<Entry>& entries,
              const std::vector<int64_t>& sizes)
      : count_(static_cast<int64_t>(entries.size())) {
    std::vector<Chunk> chunks;
    for (size_t k = 0; k < sizes.size(); ++k) {
      int64_t c = (sizes[k] + kChunk - 1) / kChunk;
      ST_CHECK(c < (int64_t(1) << 31), "multi-tensor kernel: tensor ", k, " of ", sizes[k],
               " elements is too large");
      for (int64_t i = 0; i < c; ++i)
        chunks.push_back(Chunk{static_cast<int32_t>(k), static_cast<int32_t>(i)});
    }
    chunks_ = static_cast<int64_t>(chunks.size());
    size_t entry_bytes = entries.size() * sizeof(Entry);
    size_t offset = (entry_bytes + alignof(Chunk) - 1) / alignof(Chunk) * alignof(Chunk);
    size_t bytes = offset + chunks.size() * sizeof(Chunk);
    std::vector<unsigned char> host(bytes);
    std::memcpy(host.data(), entries.data(), entry_bytes);
    std::memcpy(host.data() + offset, chunks.data(), chunks.size() * sizeof(Chunk));
    buffer_ = std::make_unique<cuda::ScratchBuffer>(be.allocator(), bytes);
    // From pageable memory: returns once the bytes are staged, so `host` may go.
    ST_CUDA_CHECK(cudaMemcpyAsync(buffer_->as<unsigned char>(), host.data(), bytes,
                                  cudaMemcpyHostToDevice, be.stream()));
    entries_ = buffer_->as<Entry>();
    chunk_table_ = reinterpret_cast<const Chunk*>(buffer_->as<unsigned char>() + offset);
  }
  const Entry* entries() const { return entries_; }
  const Chunk* chunks() const { return chunk_table_; }
  int64_t count() const { return count_; }
  int64_t chunk_count() const { return chunks_; }
  unsigned grid() const {
    return static_cast<unsigned>(std::clamp<int64_t>(chunks_, 1, cuda::kMaxBlocks));
  }

 private:
  std::unique_ptr<cuda::ScratchBuffer> buffer_;
  const Entry* entries_ = nullptr;
  const Chunk* chunk_table_ = nullptr;
  int64_t count_ = 0, chunks_ = 0;
};

__device__ __forceinline__ void chunk_range(const Chunk& c, int64_t n, int64_t& begin,
                                            int64_t& end) {
  begin = static_cast<int64_t>(c.index) * kChunk;
  end = min(n, begin + kChunk);
}

__global__ void adamw_many_kernel(const AdamWEntry* __restrict__ entries,
                                  const Chunk* __restrict__ chunks, int64_t nchunks) {
  for (int64_t c = blockIdx.x; c < nchunks; c += gridDim.x) {
    Chunk ch = chunks[c];
    AdamWEntry e = entries[ch.tensor];
    int64_t begin, end;
    chunk_range(ch, e.n, begin, end);
    for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) e.step(e.p[i], e.m[i], e.v[i], e.g[i]);
  }
}

// partial[c] = sum over chunk c of SquareTerm (double, fixed block tree).
template <class T>
__global__ void squares_partial_kernel(const ListEntry<T>* __restrict__ entries,
                                       const Chunk* __restrict__ chunks, int64_t nchunks,
                                       double* __restrict__ partial) {
  SquareTerm sq;
  for (int64_t c = blockIdx.x; c < nchunks; c += gridDim.x) {
    Chunk ch = chunks[c];
    const T* x = entries[ch.tensor].x;
    int64_t begin, end;
    chunk_range(ch, entries[ch.tensor].n, begin, end);
    double acc = 0;
    for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) acc += sq(x[i]);
    acc = cuda::block_sum(acc);
    if (threadIdx.x == 0) partial[c] = acc;
  }
}

// One block: *total = sum over tensors k (in order) of T(sum of k's chunk partials).
template <class T>
__global__ void squares_total_kernel(const ListEntry<T>* __restrict__ entries, int64_t count,
                                     const double* __restrict__ partial,
                                     double* __restrict__ total) {
  double t = 0;
  for (int64_t k = 0; k < count; ++k) {
    int64_t c0 = entries[k].first_chunk, c1 = c0 + (entries[k].n + kChunk - 1) / kChunk;
    double s = 0;
    for (int64_t c = c0 + threadIdx.x; c < c1; c += blockDim.x) s += partial[c];
    s = cuda::block_sum(s);
    if (threadIdx.x == 0) t += static_cast<double>(static_cast<T>(s));
  }
  if (threadIdx.x == 0) *total = t;
}

template <class T>
__global__ void scale_many_kernel(const ListEntry<T>* __restrict__ entries,
                                  const Chunk* __restrict__ chunks, int64_t nchunks, T alpha) {
  for (int64_t c = blockIdx.x; c < nchunks; c += gridDim.x) {
    Chunk ch = chunks[c];
    T* x = entries[ch.tensor].x;
    int64_t begin, end;
    chunk_range(ch, entries[ch.tensor].n, begin, end);
    for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) x[i] *= alpha;
  }
}

void check_list(const char* op, const std::vector<Tensor>& xs, Device device) {
  for (size_t k = 0; k < xs.size(); ++k) {
    ST_CHECK(xs[k].defined() && xs[k].is_contiguous() && xs[k].device() == device, op,
             ": tensor ", k, " of the list must be defined, contiguous and on ", device);
    ST_CHECK(xs[k].dtype() == xs[0].dtype(), op, ": tensor ", k, " has dtype ", xs[k].dtype(),
             ", tensor 0 ", xs[0].dtype(), " (one dtype per list)");
  }
}

template <class T>
std::vector<ListEntry<T>> list_entries(const std::vector<Tensor>& xs,
                                       std::vector<int64_t>& sizes) {
  std::vector<ListEntry<T>> entries;
  int64_t first = 0;
  for (const Tensor& x : xs) {
    entries.push_back(ListEntry<T>{x.data<T>(), x.numel(), first});
    sizes.push_back(x.numel());
    first += (x.numel() + kChunk - 1) / kChunk;
  }
  return entries;
}

}  // namespace

void CudaBackend::adamw_update_many(const std::vector<AdamWTensor>& list) {
  std::vector<AdamWEntry> entries;
  std::vector<int64_t> sizes;
  for (const AdamWTensor& t : list) {
    ST_CHECK(t.p.dtype() == DType::F32 && t.m.dtype() == DType::F32 &&
                 t.v.dtype() == DType::F32 && t.g.dtype() == DType::F32,
             "adamw_update_many: parameters, moments and gradients must be f32");
    int64_t n = t.p.numel();
    ST_CHECK(t.m.numel() == n && t.v.numel() == n && t.g.numel() == n,
             "adamw_update_many: parameter ", t.p.shape(), ", moments ", t.m.shape(), " and ",
             t.v.shape(), ", gradient ", t.g.shape(), " differ in size");
    for (const Tensor* x : {&t.p, &t.m, &t.v, &t.g})
      ST_CHECK(x->is_contiguous() && x->device() == device(), "adamw_update_many: tensor ",
               x->shape(), " must be contiguous and on ", device());
    entries.push_back(AdamWEntry{t.p.data<float>(), t.m.data<float>(), t.v.data<float>(),
                                 t.g.data<float>(), n, t.step});
    sizes.push_back(n);
  }
  if (entries.empty()) return;
  cuda::DeviceGuard guard(index_);
  DeviceTable<AdamWEntry> table(*this, entries, sizes);
  if (table.chunk_count() == 0) return;
  adamw_many_kernel<<<table.grid(), cuda::kThreads, 0, stream_>>>(table.entries(), table.chunks(),
                                                                  table.chunk_count());
  ST_CUDA_CHECK_LAUNCH();
}

void CudaBackend::sum_of_squares_into(const std::vector<Tensor>& xs, const Tensor& out) {
  ST_CHECK(out.dtype() == DType::F64 && out.numel() == 1 && out.device() == device(),
           "sum_of_squares: the result must be one f64 on ", device().str(), ", got ", out.shape(), " ",
           out.dtype(), " on ", out.device().str());
  cuda::DeviceGuard guard(index_);
  if (xs.empty()) {
    ST_CUDA_CHECK(cudaMemsetAsync(out.data<double>(), 0, sizeof(double), stream_));
    return;
  }
  check_list("sum_of_squares", xs, device());
  cuda::dispatch_float(xs[0].dtype(), "sum_of_squares", [&](auto tag) {
    using T = decltype(tag);
    std::vector<int64_t> sizes;
    std::vector<ListEntry<T>> entries = list_entries<T>(xs, sizes);
    DeviceTable<ListEntry<T>> table(*this, entries, sizes);
    // (chunks) partials, then the total in out.
    cuda::ScratchBuffer partial(*allocator_, static_cast<size_t>(std::max<int64_t>(table.chunk_count(), 1)) *
                                                 sizeof(double));
    double* total = out.data<double>();
    if (table.chunk_count() > 0) {
      squares_partial_kernel<T><<<table.grid(), cuda::kThreads, 0, stream_>>>(
          table.entries(), table.chunks(), table.chunk_count(), partial.as<double>());
      ST_CUDA_CHECK_LAUNCH();
    }
    squares_total_kernel<T><<<1, cuda::kThreads, 0, stream_>>>(table.entries(), table.count(),
                                                               partial.as<double>(), total);
    ST_CUDA_CHECK_LAUNCH();
  });
}

void CudaBackend::scale_many(const std::vector<Tensor>& xs, double alpha) {
  if (xs.empty()) return;
  check_list("scale_many", xs, device());
  cuda::DeviceGuard guard(index_);
  cuda::dispatch_float(xs[0].dtype(), "scale_many", [&](auto tag) {
    using T = decltype(tag);
    std::vector<int64_t> sizes;
    std::vector<ListEntry<T>> entries = list_entries<T>(xs, sizes);
    DeviceTable<ListEntry<T>> table(*this, entries, sizes);
    if (table.chunk_count() == 0) return;
    scale_many_kernel<T><<<table.grid(), cuda::kThreads, 0, stream_>>>(
        table.entries(), table.chunks(), table.chunk_count(), static_cast<T>(alpha));
    ST_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace st
