// DeviceRoutingCommunicator; see device_routing.h.
#include "distributed/device_routing.h"

namespace st {

DeviceRoutingCommunicator::DeviceRoutingCommunicator(std::shared_ptr<Communicator> host,
                                                     std::shared_ptr<Communicator> device)
    : host_(std::move(host)), device_(std::move(device)) {
  ST_CHECK(host_ && device_, "DeviceRoutingCommunicator: needs a host and a device communicator");
  ST_CHECK(host_->rank() == device_->rank() && host_->size() == device_->size(),
           "DeviceRoutingCommunicator: the host communicator (rank ", host_->rank(), " of ", host_->size(),
           ") and the device communicator (rank ", device_->rank(), " of ", device_->size(),
           ") must span the same ranks");
}

Communicator& DeviceRoutingCommunicator::route(const char* call, const Tensor& x, const Tensor& other) {
  ST_CHECK(x.defined(), "communicator ", name(), ": ", call, " of an undefined tensor");
  bool on_device = !x.device().is_cpu();
  ST_CHECK(!other.defined() || other.device().is_cpu() != on_device, "communicator ", name(), ": ", call, " of ",
           x.device(), " into ", other.device(), " (both tensors must be on the host, or both on the device)");
  return on_device ? *device_ : *host_;
}

void DeviceRoutingCommunicator::all_reduce_sum(const Tensor& x) {
  route("all_reduce_sum", x).all_reduce_sum(x);
  count_bytes(x.numel() * static_cast<int64_t>(dtype_size(x.dtype())));
}

std::unique_ptr<Work> DeviceRoutingCommunicator::all_reduce_sum_async(const Tensor& x) {
  auto work = route("all_reduce_sum_async", x).all_reduce_sum_async(x);
  count_bytes(x.numel() * static_cast<int64_t>(dtype_size(x.dtype())));
  return work;
}

void DeviceRoutingCommunicator::all_gather(const Tensor& x, const Tensor& out) {
  route("all_gather", x, out).all_gather(x, out);
  count_bytes(x.numel() * static_cast<int64_t>(dtype_size(x.dtype())));
}

void DeviceRoutingCommunicator::reduce_scatter_sum(const Tensor& x, const Tensor& out) {
  route("reduce_scatter_sum", x, out).reduce_scatter_sum(x, out);
  count_bytes(x.numel() * static_cast<int64_t>(dtype_size(x.dtype())));
}

std::unique_ptr<Work> DeviceRoutingCommunicator::reduce_scatter_sum_async(const Tensor& x, const Tensor& out) {
  auto work = route("reduce_scatter_sum_async", x, out).reduce_scatter_sum_async(x, out);
  count_bytes(x.numel() * static_cast<int64_t>(dtype_size(x.dtype())));
  return work;
}

void DeviceRoutingCommunicator::broadcast(const Tensor& x, int root) {
  route("broadcast", x).broadcast(x, root);
  if (rank() == root) count_bytes(x.numel() * static_cast<int64_t>(dtype_size(x.dtype())));
}

void DeviceRoutingCommunicator::send(const Tensor& x, int dest, int tag) {
  route("send", x).send(x, dest, tag);
  count_bytes(x.numel() * static_cast<int64_t>(dtype_size(x.dtype())));
}

void DeviceRoutingCommunicator::recv(const Tensor& x, int source, int tag) { route("recv", x).recv(x, source, tag); }

std::shared_ptr<Communicator> DeviceRoutingCommunicator::split(int color, int key) {
  return std::make_shared<DeviceRoutingCommunicator>(host_->split(color, key), device_->split(color, key));
}

}  // namespace st
