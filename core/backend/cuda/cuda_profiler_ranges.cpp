// NVTX ranges for Nsight Systems (backend.h: profiler_range_push / pop). NVTX 3 is header-only:
// without a profiler attached each call is a cheap no-op.
#include <nvtx3/nvToolsExt.h>

#include "core/backend/backend.h"

namespace st {

void profiler_range_push(const char* name) { nvtxRangePushA(name); }
void profiler_range_pop() { nvtxRangePop(); }

}  // namespace st
