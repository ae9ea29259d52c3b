// CPU allocator (64-byte aligned) and the shared statistics bookkeeping.
#include "core/tensor/allocator.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <mutex>
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
// Blocks of at least kCacheMin bytes are kept on free for reuse by a later request of the same
// rounded size: a training step allocates the same sizes every step, and fresh large blocks
// would cost a page fault per 4 KiB page. A freed block is kept while the cached bytes plus the
// bytes in use stay within the larger of kCacheMax and the peak in use so far, so the cache
// never holds the process above the peak a step has already reached (or 2 GiB), and a long
// sequence whose step needs more than 2 GiB still finds its blocks again. Smaller blocks go
// straight to malloc. Statistics count bytes held by tensors, not cached blocks.
constexpr size_t kCacheMin = size_t(64) << 10;
constexpr size_t kCacheMax = size_t(2) << 30;

class CpuAllocator final : public Allocator {
 public:
  void* allocate(size_t bytes) override {
    if (bytes == 0) return nullptr;
    size_t rounded = round_up(bytes);
    void* p = nullptr;
    if (rounded >= kCacheMin) {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = cache_.find(rounded);
      if (it != cache_.end()) {
        p = it->second;
        cache_.erase(it);
        cached_bytes_ -= rounded;
      }
    }
    if (!p) p = std::aligned_alloc(kCpuAlignment, rounded);
    if (!p) ST_THROW("cpu allocator: out of memory allocating ", bytes, " bytes");
    record_alloc(bytes);
    return p;
  }
  void deallocate(void* p, size_t bytes) override {
    if (!p) return;
    record_free(bytes);
    size_t rounded = round_up(bytes);
    if (rounded >= kCacheMin) {
      std::lock_guard<std::mutex> lock(mu_);
      MemoryStats now = stats();
      size_t limit = std::max(kCacheMax, static_cast<size_t>(std::max<int64_t>(now.peak_bytes, 0)));
      size_t in_use = static_cast<size_t>(std::max<int64_t>(now.bytes_in_use, 0));
      if (in_use + cached_bytes_ + rounded <= limit) {
        cache_.emplace(rounded, p);
        cached_bytes_ += rounded;
        return;
      }
    }
    std::free(p);
  }
  Device device() const override { return Device::cpu(); }
  ~CpuAllocator() override {
    for (auto& [_, p] : cache_) std::free(p);
  }

 private:
  static size_t round_up(size_t bytes) {
    return (bytes + kCpuAlignment - 1) / kCpuAlignment * kCpuAlignment;
  }
  std::mutex mu_;
  std::multimap<size_t, void*> cache_;
  size_t cached_bytes_ = 0;
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
