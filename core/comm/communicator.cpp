// LocalCommunicator (size 1), and finish_quietly for the destructors of Work.
#include "core/comm/communicator.h"

#include <cstdio>
#include <exception>

namespace st {

namespace {
class DoneWork final : public Work {
 public:
  void wait() override {}
  bool test() override { return true; }
};
}  // namespace

void finish_quietly(Work& work, const char* what) noexcept {
  try {
    work.wait();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s (while discarding an unfinished %s)\n", e.what(), what);
  } catch (...) {
    std::fprintf(stderr, "unknown error while discarding an unfinished %s\n", what);
  }
}

std::unique_ptr<Work> LocalCommunicator::all_reduce_sum_async(const Tensor&) {
  return std::make_unique<DoneWork>();
}

void LocalCommunicator::all_gather(const Tensor& x, const Tensor& out) {
  ST_CHECK(out.numel() == x.numel(), "all_gather: output of ", out.numel(), " elements for input ",
           x.shape(), " on 1 rank");
  copy_into(out.reshape(x.shape()), x);
}

void LocalCommunicator::reduce_scatter_sum(const Tensor& x, const Tensor& out) {
  ST_CHECK(out.numel() == x.numel(), "reduce_scatter: output of ", out.numel(),
           " elements for input ", x.shape(), " on 1 rank");
  copy_into(out, x.reshape(out.shape()));
}

void LocalCommunicator::send(const Tensor&, int dest, int) {
  ST_THROW("communicator local does not support send (to rank ", dest, ")");
}

void LocalCommunicator::recv(const Tensor&, int source, int) {
  ST_THROW("communicator local does not support recv (from rank ", source, ")");
}

std::shared_ptr<Communicator> LocalCommunicator::split(int, int) {
  return std::make_shared<LocalCommunicator>();
}

}  // namespace st
