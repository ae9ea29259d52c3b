// CPU allocator (64-byte aligned) and the shared statistics bookkeeping.
#include "core/tensor/allocator.h"

#include <cstdlib>
#include <new>

#include "core/backend/backend.h"
#include "core/tensor/error.h"

namespace st {

MemoryStats Allocator::stats() const {
  return {in_use_.load(), peak_.load(), count_.load()};
}

void Allocator::reset_peak() { peak_.store(in_use_.load()); }

void Allocator::record_alloc(size_t bytes) {
  int64_t now = in_use_.fetch_add(static_cast<int64_t>(bytes)) + static_cast<int64_t>(bytes);
  count_.fetch_add(1);
  int64_t prev = peak_.load();
  while (now > prev && !peak_.compare_exchange_weak(prev, now)) {
  }
}

void Allocator::record_free(size_t bytes) { in_use_.fetch_sub(static_cast<int64_t>(bytes)); }

namespace {
class CpuAllocator final : public Allocator {
 public:
  void* allocate(size_t bytes) override {
    if (bytes == 0) return nullptr;
    size_t rounded = (bytes + kCpuAlignment - 1) / kCpuAlignment * kCpuAlignment;
    void* p = std::aligned_alloc(kCpuAlignment, rounded);
    if (!p) ST_THROW("cpu allocator: out of memory allocating ", bytes, " bytes");
    record_alloc(bytes);
    return p;
  }
  void deallocate(void* p, size_t bytes) override {
    if (!p) return;
    std::free(p);
    record_free(bytes);
  }
  Device device() const override { return Device::cpu(); }
};
}  // namespace

Allocator& cpu_allocator() {
  static CpuAllocator a;
  return a;
}

Allocator& allocator_for(Device d) {
  if (d.is_cpu()) return cpu_allocator();
  return cuda_allocator(d.index);
}

MemoryStats memory_stats(Device d) { return allocator_for(d).stats(); }
void reset_peak_memory(Device d) { allocator_for(d).reset_peak(); }

}  // namespace st
