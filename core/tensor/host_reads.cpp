// Host-read counter and host_values; see host_reads.h.
#include "core/tensor/host_reads.h"

#include <atomic>

#include "core/tensor/tensor.h"

namespace st {

namespace {
std::atomic<int64_t> g_host_reads{0};
std::atomic<int64_t> g_staged_reads{0};
thread_local bool t_staging = false;
}  // namespace

int64_t host_read_count() { return g_host_reads.load(std::memory_order_relaxed); }
int64_t staged_read_count() { return g_staged_reads.load(std::memory_order_relaxed); }

void note_host_read() { (t_staging ? g_staged_reads : g_host_reads).fetch_add(1, std::memory_order_relaxed); }

StagedReadScope::StagedReadScope() : previous_(t_staging) { t_staging = true; }
StagedReadScope::~StagedReadScope() { t_staging = previous_; }

template <class T>
std::vector<T> host_values(const Tensor& t) {
  ST_CHECK(t.device().is_cpu(), "host_values: the tensor is on ", t.device().str(),
           "; host_values reads host data only (to_vector reads device data)");
  ST_CHECK(t.is_contiguous(), "host_values: the tensor ", t.shape(), " is not contiguous");
  ST_CHECK(t.dtype() == dtype_of<T>::value, "host_values: the tensor is ", dtype_name(t.dtype()),
           ", not ", dtype_name(dtype_of<T>::value));
  const T* p = t.data<T>();
  return std::vector<T>(p, p + t.numel());
}
template std::vector<float> host_values(const Tensor&);
template std::vector<double> host_values(const Tensor&);
template std::vector<int32_t> host_values(const Tensor&);

}  // namespace st
