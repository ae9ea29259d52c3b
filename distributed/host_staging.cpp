// HostStagingCommunicator; see host_staging.h. Device -> host copies go through copy_into, which
// waits for the compute queued on the device before it reads (the backend's copy_to_host
// synchronizes its stream), so a staged buffer always holds finished results.
#include "distributed/host_staging.h"

#include "core/tensor/host_reads.h"

namespace st {

namespace {
// x itself when it is on the host, else a host copy of it (same shape and dtype, contiguous).
Tensor staged(const Tensor& x) {
  if (x.device().is_cpu()) return x;
  Tensor h = Tensor::empty(x.shape(), x.dtype(), Device::cpu());
  StagedReadScope staging;  // a read for the transfer, counted apart (core/tensor/host_reads.h)
  copy_into(h, x);
  return h;
}
// A host buffer for the output `x` (its values are not needed).
Tensor host_buffer(const Tensor& x) {
  return x.device().is_cpu() ? x : Tensor::empty(x.shape(), x.dtype(), Device::cpu());
}
void write_back(const Tensor& x, const Tensor& host) {
  if (!host.same_storage(x)) copy_into(x, host);
}

// The inner work on the host buffer, then the copy back to the device on wait().
class StagedWork final : public Work {
 public:
  StagedWork(std::unique_ptr<Work> inner, Tensor device, Tensor host)
      : inner_(std::move(inner)), device_(std::move(device)), host_(std::move(host)) {}
  void wait() override {
    if (done_) return;
    inner_->wait();
    write_back(device_, host_);
    done_ = true;
  }
  bool test() override { return done_ || inner_->test(); }  // wait() still copies back
  ~StagedWork() override {
    if (!done_) finish_quietly(*inner_, "host-staged collective");  // the copy back is skipped
  }

 private:
  std::unique_ptr<Work> inner_;
  Tensor device_, host_;
  bool done_ = false;
};
}  // namespace

std::shared_ptr<Communicator> borrow(Communicator& c) {
  return std::shared_ptr<Communicator>(&c, [](Communicator*) {});
}

HostStagingCommunicator::HostStagingCommunicator(std::shared_ptr<Communicator> inner) : inner_(std::move(inner)) {
  ST_CHECK(inner_, "HostStagingCommunicator: no inner communicator");
}

void HostStagingCommunicator::all_reduce_sum(const Tensor& x) { all_reduce_sum_async(x)->wait(); }

std::unique_ptr<Work> HostStagingCommunicator::all_reduce_sum_async(const Tensor& x) {
  Tensor h = staged(x);
  std::unique_ptr<Work> w = inner_->all_reduce_sum_async(h);
  count_bytes(x.numel() * static_cast<int64_t>(dtype_size(x.dtype())));
  return std::make_unique<StagedWork>(std::move(w), x, h);
}

void HostStagingCommunicator::all_gather(const Tensor& x, const Tensor& out) {
  Tensor h = host_buffer(out);
  inner_->all_gather(staged(x), h);
  count_bytes(x.numel() * static_cast<int64_t>(dtype_size(x.dtype())));
  write_back(out, h);
}

void HostStagingCommunicator::reduce_scatter_sum(const Tensor& x, const Tensor& out) {
  Tensor h = host_buffer(out);
  inner_->reduce_scatter_sum(staged(x), h);
  count_bytes(x.numel() * static_cast<int64_t>(dtype_size(x.dtype())));
  write_back(out, h);
}

void HostStagingCommunicator::broadcast(const Tensor& x, int root) {
  Tensor h = staged(x);
  inner_->broadcast(h, root);
  if (rank() == root) count_bytes(x.numel() * static_cast<int64_t>(dtype_size(x.dtype())));
  write_back(x, h);
}

void HostStagingCommunicator::send(const Tensor& x, int dest, int tag) {
  inner_->send(staged(x), dest, tag);
  count_bytes(x.numel() * static_cast<int64_t>(dtype_size(x.dtype())));
}

void HostStagingCommunicator::recv(const Tensor& x, int source, int tag) {
  Tensor h = host_buffer(x);
  inner_->recv(h, source, tag);
  write_back(x, h);
}

std::shared_ptr<Communicator> HostStagingCommunicator::split(int color, int key) {
  return std::make_shared<HostStagingCommunicator>(inner_->split(color, key));
}

}  // namespace st
