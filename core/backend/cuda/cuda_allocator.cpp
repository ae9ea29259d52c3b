// Stream-ordered CUDA allocator: cudaMallocAsync / cudaFreeAsync on the owning backend's stream,
// from the device's default memory pool with release threshold UINT64_MAX (freed memory stays in
// the pool and is reused). Statistics through Allocator::record_alloc / record_free.
#include <cstdint>
#include <cstdio>

#include "core/backend/cuda/cuda_backend.h"

namespace st {

namespace {
cudaMemPool_t default_pool(int index) {
  cudaMemPool_t pool = nullptr;
  ST_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, index));
  return pool;
}
}  // namespace

CudaAllocator::CudaAllocator(int index, cudaStream_t stream) : index_(index), stream_(stream) {
  cuda::DeviceGuard guard(index);
  uint64_t threshold = UINT64_MAX;
  ST_CUDA_CHECK(cudaMemPoolSetAttribute(default_pool(index), cudaMemPoolAttrReleaseThreshold,
                                        &threshold));
}

void* CudaAllocator::allocate(size_t bytes) {
  if (bytes == 0) return nullptr;
  cuda::DeviceGuard guard(index_);
  void* p = nullptr;
  cudaError_t err = cudaMallocAsync(&p, bytes, stream_);
  if (err == cudaErrorMemoryAllocation) {
    // The pool may hold free blocks that do not fit: return them to the driver and retry once.
    cudaGetLastError();
    ST_CUDA_CHECK(cudaStreamSynchronize(stream_));
    ST_CUDA_CHECK(cudaMemPoolTrimTo(default_pool(index_), 0));
    err = cudaMallocAsync(&p, bytes, stream_);
    if (err == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      size_t free_bytes = 0, total_bytes = 0;
      cudaMemGetInfo(&free_bytes, &total_bytes);
      ST_THROW("cuda allocator: out of memory on cuda:", index_, " allocating ", bytes,
               " bytes (tensors hold ", stats().bytes_in_use, " bytes; the device has ",
               free_bytes, " of ", total_bytes, " bytes free)");
    }
  }
  if (err != cudaSuccess) cuda::throw_cuda_error(err, "cudaMallocAsync", __FILE__, __LINE__);
  record_alloc(bytes);
  return p;
}

void CudaAllocator::deallocate(void* ptr, size_t bytes) {
  if (!ptr) return;
  int previous = -1;
  bool switched = cudaGetDevice(&previous) == cudaSuccess && previous != index_ &&
                  cudaSetDevice(index_) == cudaSuccess;
  cudaError_t err = cudaFreeAsync(ptr, stream_);
  if (switched) cudaSetDevice(previous);
  // At process exit the runtime or the context may already be gone: nothing left to free.
  if (err != cudaSuccess && err != cudaErrorCudartUnloading &&
      err != cudaErrorContextIsDestroyed) {
    cudaGetLastError();
    std::fprintf(stderr, "st: cudaFreeAsync of %zu bytes on cuda:%d failed: %s\n", bytes, index_,
                 cudaGetErrorString(err));
  }
  record_free(bytes);
}

}  // namespace st
