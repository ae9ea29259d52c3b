// Storage: one reference-counted block of device memory. Tensors (and their views) share a
// Storage through std::shared_ptr; the block returns to its allocator when the last one goes.
#pragma once
#include <cstddef>
#include <memory>

#include "core/tensor/allocator.h"

namespace st {

class Storage {
 public:
  Storage(size_t bytes, Allocator& alloc)
      : bytes_(bytes), alloc_(&alloc), data_(alloc.allocate(bytes)) {}
  ~Storage() { alloc_->deallocate(data_, bytes_); }
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return alloc_->device(); }

 private:
  size_t bytes_;
  Allocator* alloc_;
  void* data_;
};

}  // namespace st
