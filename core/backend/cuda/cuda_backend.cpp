// CUDA backend registry and plumbing: cuda_device_count / cuda_backend / cuda_allocator, one
// lazily created CudaBackend per device (stream, cuBLAS and cuBLASLt handles, workspace,
// allocator), host copies (cudaMemcpyAsync on the stream, then a stream synchronize) and
// synchronize().
#include <atomic>
#include <mutex>
#include <string>

#include "core/backend/cuda/cuda_backend.h"

namespace st {

namespace {
constexpr int kMaxDevices = 64;
// cuBLAS workspace (CudaBackend::kCublasWorkspaceBytes): a fixed buffer per handle keeps its
// algorithm choice (and so its results) reproducible; 32 MiB is NVIDIA's recommendation for
// Hopper. cuBLASLt GEMMs use the same buffer.

std::atomic<CudaBackend*> g_backends[kMaxDevices];
std::mutex g_create_mutex;

CudaBackend& backend_at(int index) {
  int count = cuda_device_count();
  ST_CHECK(index >= 0 && index < count, "cuda:", index, " is not available: ",
           count == 0 ? "no CUDA device is visible to this process"
                      : "this process sees " + std::to_string(count) + " CUDA device(s)");
  ST_CHECK(index < kMaxDevices, "cuda:", index, " exceeds the supported ", kMaxDevices,
           " devices");
  CudaBackend* b = g_backends[index].load(std::memory_order_acquire);
  if (b) return *b;
  std::lock_guard<std::mutex> lock(g_create_mutex);
  b = g_backends[index].load(std::memory_order_relaxed);
  if (!b) {
    // Never deleted: tensors released during static destruction still need the stream.
    b = new CudaBackend(index);
    g_backends[index].store(b, std::memory_order_release);
  }
  return *b;
}
}  // namespace

bool cuda_built() { return true; }

int cuda_device_count() {
  static const int count = [] {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
      cudaGetLastError();  // no driver or no device: not an error for callers
      return 0;
    }
    return n;
  }();
  return count;
}

int64_t cuda_device_memory(int index) {
  if (index < 0 || index >= cuda_device_count()) return 0;
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, index) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return static_cast<int64_t>(prop.totalGlobalMem);
}

Backend& cuda_backend(int index) { return backend_at(index); }

Allocator& cuda_allocator(int index) { return backend_at(index).allocator(); }

CudaBackend::CudaBackend(int index) : index_(index) {
  cuda::DeviceGuard guard(index);
  // A blocking stream: it still orders against the legacy default stream, so code that uses
  // plain cudaMemcpy on these tensors stays correct.
  ST_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamDefault));
  ST_CUBLAS_CHECK(cublasCreate(&cublas_));
  ST_CUBLAS_CHECK(cublasSetStream(cublas_, stream_));
  ST_CUDA_CHECK(cudaMalloc(&cublas_workspace_, kCublasWorkspaceBytes));
  ST_CUBLAS_CHECK(cublasSetWorkspace(cublas_, cublas_workspace_, kCublasWorkspaceBytes));
  ST_CUBLAS_CHECK(cublasSetMathMode(cublas_, CUBLAS_DEFAULT_MATH));  // fp32 stays fp32 (no TF32)
  lt_.create();
  allocator_ = std::make_unique<CudaAllocator>(index, stream_);
}

void CudaBackend::copy_from_host(void* dst, const void* host_src, size_t bytes) {
  if (bytes == 0) return;
  cuda::DeviceGuard guard(index_);
  ST_CUDA_CHECK(cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, stream_));
  ST_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void CudaBackend::copy_to_host(void* host_dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  cuda::DeviceGuard guard(index_);
  ST_CUDA_CHECK(cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, stream_));
  ST_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void CudaBackend::synchronize() {
  cuda::DeviceGuard guard(index_);
  ST_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

}  // namespace st
