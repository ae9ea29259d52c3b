// A small parallel-for for example generation: indices [0, n) are handed out dynamically to
// `threads` workers. Results must depend only on the index (per-example seeds), never on the
// worker, so output is the same for any thread count. The exception of the lowest failing index
// is rethrown (the one a sequential loop would throw), whatever the timing.
#pragma once
#include <cstdint>
#include <functional>

namespace st::tasks {

// threads <= 0: the automatic count of the thread policy (core/backend/thread_policy.h): the
// CPUs this process may run on, unless OMP_NUM_THREADS or SLURM_CPUS_PER_TASK says otherwise.
int resolve_threads(int threads);
void parallel_for(int64_t n, int threads, const std::function<void(int64_t)>& body);

}  // namespace st::tasks
