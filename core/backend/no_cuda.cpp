// Compiled instead of backend/cuda when the build has no CUDA: every CUDA entry point reports
// that clearly, so nothing above core/ needs to know whether CUDA was built.
#include "core/backend/backend.h"

namespace st {

bool cuda_built() { return false; }
void profiler_range_push(const char*) {}
void profiler_range_pop() {}
int cuda_device_count() { return 0; }
int64_t cuda_device_memory(int) { return 0; }

Backend& cuda_backend(int) {
  ST_THROW("this build has no CUDA support; configure on a machine with the CUDA toolkit "
           "(cmake -DST_CUDA=ON) to use device cuda");
}

Allocator& cuda_allocator(int) {
  ST_THROW("this build has no CUDA support; configure on a machine with the CUDA toolkit "
           "(cmake -DST_CUDA=ON) to use device cuda");
}

}  // namespace st
