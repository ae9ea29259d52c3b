// parallel_for over std::thread workers; see parallel.h.
#include "data/tasks/parallel.h"

#include "core/backend/thread_policy.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace st::tasks {

int resolve_threads(int threads) {
  if (threads > 0) return threads;
  return decide_threads_alone(0).threads;
}

void parallel_for(int64_t n, int threads, const std::function<void(int64_t)>& body) {
  int workers = static_cast<int>(std::min<int64_t>(resolve_threads(threads), n));
  if (workers <= 1) {
    for (int64_t i = 0; i < n; ++i) body(i);
    return;
  }
  std::atomic<int64_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  int64_t error_index = n;
  std::mutex error_mutex;
  // Indices are handed out in increasing order, so every index below a failing one has been
  // taken and runs to completion: keeping the lowest failing index reports the same error as a
  // sequential loop would, whatever the timing.
  auto work = [&] {
    for (int64_t i; !failed && (i = next++) < n;) {
      try {
        body(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (i < error_index) {
          error = std::current_exception();
          error_index = i;
        }
        failed = true;
      }
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < workers; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace st::tasks
