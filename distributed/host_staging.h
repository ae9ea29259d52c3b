// A communicator for device tensors over one that takes host buffers only (MPI): every device
// tensor is copied to a host buffer of the same shape and dtype, the inner communicator runs on
// that buffer, and results are copied back to the device. Host tensors pass straight through.
// Used for data-parallel gradient sync on CUDA when NCCL is not available; slower than NCCL (two
// copies per bucket and no overlap of copies with compute) but correct everywhere.
#pragma once
#include <memory>

#include "core/comm/communicator.h"

namespace st {

class HostStagingCommunicator final : public Communicator {
 public:
  explicit HostStagingCommunicator(std::shared_ptr<Communicator> inner);

  int rank() const override { return inner_->rank(); }
  int size() const override { return inner_->size(); }
  std::string name() const override { return inner_->name() + "+host-staging"; }

  void all_reduce_sum(const Tensor& x) override;
  std::unique_ptr<Work> all_reduce_sum_async(const Tensor& x) override;
  void all_gather(const Tensor& x, const Tensor& out) override;
  void reduce_scatter_sum(const Tensor& x, const Tensor& out) override;
  void broadcast(const Tensor& x, int root) override;
  void send(const Tensor& x, int dest, int tag) override;
  void recv(const Tensor& x, int source, int tag) override;
  void barrier() override { inner_->barrier(); }
  std::shared_ptr<Communicator> split(int color, int key) override;

  Communicator& inner() const { return *inner_; }

 private:
  std::shared_ptr<Communicator> inner_;
};

// A shared_ptr that does not own `c` (for wrapping a communicator that lives elsewhere, e.g. the
// process grid's world); `c` must outlive every copy.
std::shared_ptr<Communicator> borrow(Communicator& c);

}  // namespace st
