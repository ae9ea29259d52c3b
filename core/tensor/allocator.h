// Allocators: where a tensor's bytes come from. Each device has one allocator with statistics
// (bytes in use, peak) that tests and benchmarks read. CPU memory is 64-byte aligned for SIMD,
// and blocks of 64 KiB or more are cached for reuse (see allocator.cpp);
// CUDA memory is stream-ordered (cudaMallocAsync pools), implemented in backend/cuda.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "core/tensor/dtype.h"

namespace st {

struct MemoryStats {
  int64_t bytes_in_use = 0;
  int64_t peak_bytes = 0;
  int64_t allocations = 0;  // number of allocate() calls so far
};

class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual void* allocate(size_t bytes) = 0;
  virtual void deallocate(void* ptr, size_t bytes) = 0;
  virtual Device device() const = 0;

  MemoryStats stats() const;
  void reset_peak();  // peak := current bytes in use

 protected:
  void record_alloc(size_t bytes);
  void record_free(size_t bytes);

 private:
  std::atomic<int64_t> in_use_{0};
  std::atomic<int64_t> peak_{0};
  std::atomic<int64_t> count_{0};
};

constexpr size_t kCpuAlignment = 64;

Allocator& cpu_allocator();
Allocator& allocator_for(Device d);  // CUDA: throws when this build or machine has no CUDA

MemoryStats memory_stats(Device d = Device::cpu());
void reset_peak_memory(Device d = Device::cpu());

}  // namespace st
