// CUDA backend registry and plumbing: cuda_device_count / cuda_backend / cuda_allocator, one
// lazily created CudaBackend per device (stream, cuBLAS and cuBLASLt handles, workspace,
// allocator), host copies (cudaMemcpyAsync on the stream, then a stream synchronize) and
// synchronize().
#include <atomic>
#include <mutex>
#include <string>

#include <unistd.h>

#include "core/backend/cuda/cuda_backend.h"

namespace st {

namespace {
constexpr int kMaxDevices = 64;
// cuBLAS workspace (CudaBackend::kCublasWorkspaceBytes): a fixed buffer per handle keeps its
// algorithm choice (and so its results) reproducible; 32 MiB is NVIDIA's recommendation for
// Hopper. cuBLASLt GEMMs use the same buffer.

std::atomic<CudaBackend*> g_backends[kMaxDevices];
std::mutex g_create_mutex;

bool nvidia_device_files_present() {
  for (const char* path : {"/dev/nvidiactl", "/dev/nvidia0", "/dev/dxg"}) {
    if (access(path, F_OK) == 0) return true;
  }
  return false;
}

// 12080 -> "12.8"; 0 (unknown) -> "unknown".
std::string cuda_version_name(int v) {
  if (v <= 0) return "unknown";
  return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10);
}

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

// A machine without NVIDIA device files (/dev/nvidiactl, /dev/nvidia0, ...) has no GPU: 0 devices.
// With device files present, a CUDA error is a broken installation (for example a driver older
// than the toolkit), never "no GPU": it is an error naming the CUDA error and both versions, so a
// GPU machine cannot pass its tests by skipping them. cudaErrorNoDevice (a container or
// CUDA_VISIBLE_DEVICES that hides every GPU) is 0 devices.
int cuda_device_count() {
  static const int count = [] {
    int n = 0;
    cudaError_t err = cudaGetDeviceCount(&n);
    if (err == cudaSuccess) return n;
    cudaGetLastError();
    if (err == cudaErrorNoDevice || !nvidia_device_files_present()) return 0;
    int driver = 0, runtime = 0;
    if (cudaDriverGetVersion(&driver) != cudaSuccess) driver = 0;
    if (cudaRuntimeGetVersion(&runtime) != cudaSuccess) runtime = 0;
    cudaGetLastError();
    throw Error(std::string("CUDA cannot list the GPUs of this machine (NVIDIA device files are "
                            "present): cudaGetDeviceCount returned ") +
                std::to_string(static_cast<int>(err)) + " (" + cudaGetErrorName(err) + ": " +
                cudaGetErrorString(err) + "); driver supports CUDA " + cuda_version_name(driver) +
                ", this build's runtime is CUDA " + cuda_version_name(runtime));
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
  void* deferred = nullptr;
  ST_CUDA_CHECK(cudaMalloc(&deferred, kMaxDeferredChecks * (sizeof(unsigned long long) + sizeof(long long))));
  deferred_first_ = static_cast<unsigned long long*>(deferred);
  deferred_value_ = reinterpret_cast<long long*>(deferred_first_ + kMaxDeferredChecks);
  ST_CUBLAS_CHECK(cublasSetWorkspace(cublas_, cublas_workspace_, kCublasWorkspaceBytes));
  ST_CUBLAS_CHECK(cublasSetMathMode(cublas_, CUBLAS_DEFAULT_MATH));  // fp32 stays fp32 (no TF32)
  lt_.create();
  allocator_ = std::make_unique<CudaAllocator>(index, stream_);
}

void CudaBackend::copy_from_host(void* dst, const void* host_src, size_t bytes) {
  if (bytes == 0) return;
  cuda::DeviceGuard guard(index_);
  ST_CUDA_CHECK(cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, stream_));
  // From pageable memory (every host tensor: the CPU allocator's) the copy returns once the bytes
  // are staged by the driver, with no device synchronisation, so the source may go at once and
  // the upload does not stall the stream. Pinned memory is read by the DMA later: wait for it.
  cudaPointerAttributes attributes{};
  ST_CUDA_CHECK(cudaPointerGetAttributes(&attributes, host_src));
  if (attributes.type == cudaMemoryTypeHost) ST_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void CudaBackend::copy_to_host(void* host_dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  cuda::DeviceGuard guard(index_);
  ST_CUDA_CHECK(cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, stream_));
  ST_CUDA_CHECK(cudaStreamSynchronize(stream_));
  raise_deferred_failures();  // the stream is idle: the pending range checks cost one small copy
}

void CudaBackend::raise_deferred_failures() {
  if (deferred_checks_.empty()) return;
  size_t k = deferred_checks_.size();
  std::vector<unsigned long long> first(k);
  std::vector<long long> value(k);
  std::vector<RangeCheck> checks = std::move(deferred_checks_);
  deferred_checks_.clear();
  ST_CUDA_CHECK(cudaMemcpyAsync(first.data(), deferred_first_, k * sizeof(unsigned long long),
                                cudaMemcpyDeviceToHost, stream_));
  ST_CUDA_CHECK(cudaMemcpyAsync(value.data(), deferred_value_, k * sizeof(long long), cudaMemcpyDeviceToHost,
                                stream_));
  ST_CUDA_CHECK(cudaStreamSynchronize(stream_));
  for (size_t i = 0; i < k; ++i)
    if (first[i] != ~0ull)
      ST_THROW(checks[i].what, " ", value[i], " ", checks[i].where, " ", first[i], checks[i].rest);
}

void CudaBackend::synchronize() {
  cuda::DeviceGuard guard(index_);
  ST_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

}  // namespace st
