// A communicator that sends each call where its tensor lives: host tensors to a communicator of
// host buffers (MPI), device tensors to one of device buffers (NCCL), over the same ranks. So one
// communicator carries both the host values a run exchanges (flags, token counts of host data)
// and its device tensors (gradients, loss sums, attention states) without staging the latter
// through the host. A call's tensors must all be on the same side.
#pragma once
#include <memory>

#include "core/comm/communicator.h"

namespace st {

class DeviceRoutingCommunicator final : public Communicator {
 public:
  // host and device span the same ranks in the same order.
  DeviceRoutingCommunicator(std::shared_ptr<Communicator> host, std::shared_ptr<Communicator> device);

  int rank() const override { return host_->rank(); }
  int size() const override { return host_->size(); }
  std::string name() const override { return device_->name() + "+" + host_->name(); }

  void all_reduce_sum(const Tensor& x) override;
  std::unique_ptr<Work> all_reduce_sum_async(const Tensor& x) override;
  void all_gather(const Tensor& x, const Tensor& out) override;
  void reduce_scatter_sum(const Tensor& x, const Tensor& out) override;
  std::unique_ptr<Work> reduce_scatter_sum_async(const Tensor& x, const Tensor& out) override;
  void broadcast(const Tensor& x, int root) override;
  void send(const Tensor& x, int dest, int tag) override;
  void recv(const Tensor& x, int source, int tag) override;
  void barrier() override { host_->barrier(); }
  std::shared_ptr<Communicator> split(int color, int key) override;

  Communicator& host() const { return *host_; }
  Communicator& device() const { return *device_; }

 private:
  // The communicator for `x` (and `other`, which must be on the same side), counting bytes sent.
  Communicator& route(const char* call, const Tensor& x, const Tensor& other = Tensor());

  std::shared_ptr<Communicator> host_, device_;
};

}  // namespace st
