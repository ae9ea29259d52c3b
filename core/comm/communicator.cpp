// LocalCommunicator (size 1).
#include "core/comm/communicator.h"

namespace st {

namespace {
class DoneWork final : public Work {
 public:
  void wait() override {}
  bool test() override { return true; }
};
}  // namespace

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
