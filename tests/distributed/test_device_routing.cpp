// DeviceRoutingCommunicator sends each call where its tensor lives (host tensors to the host
// communicator, device tensors to the device one), and host staging counts its copies apart from
// the host reads. One process; the device cases skip without a GPU.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/backend/backend.h"
#include "core/tensor/host_reads.h"
#include "distributed/device_routing.h"
#include "distributed/host_staging.h"

namespace st {
namespace {

// Records the calls it receives; its collectives leave the data alone (size 1 semantics).
class Recorder final : public Communicator {
 public:
  explicit Recorder(std::string name) : name_(std::move(name)) {}
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string name() const override { return name_; }
  void all_reduce_sum(const Tensor&) override { calls.push_back("all_reduce_sum"); }
  std::unique_ptr<Work> all_reduce_sum_async(const Tensor& x) override {
    calls.push_back("all_reduce_sum_async");
    return LocalCommunicator().all_reduce_sum_async(x);
  }
  void all_gather(const Tensor&, const Tensor&) override { calls.push_back("all_gather"); }
  void reduce_scatter_sum(const Tensor&, const Tensor&) override { calls.push_back("reduce_scatter_sum"); }
  void broadcast(const Tensor&, int) override { calls.push_back("broadcast"); }
  void send(const Tensor&, int, int) override { calls.push_back("send"); }
  void recv(const Tensor&, int, int) override { calls.push_back("recv"); }
  void barrier() override { calls.push_back("barrier"); }
  std::shared_ptr<Communicator> split(int, int) override { return std::make_shared<Recorder>(name_ + "'"); }
  std::vector<std::string> calls;

 private:
  std::string name_;
};

const std::vector<std::string> kEveryCall = {"all_reduce_sum", "all_reduce_sum_async", "all_gather",
                                             "reduce_scatter_sum", "broadcast", "send", "recv"};

void call_everything(Communicator& c, const Tensor& x) {
  c.all_reduce_sum(x);
  c.all_reduce_sum_async(x)->wait();
  c.all_gather(x, x);
  c.reduce_scatter_sum(x, x);
  c.broadcast(x, 0);
  c.send(x, 0, 1);
  c.recv(x, 0, 1);
}

TEST(DeviceRouting, HostTensorsGoToTheHostCommunicator) {
  auto host = std::make_shared<Recorder>("mpi"), device = std::make_shared<Recorder>("nccl");
  DeviceRoutingCommunicator c(host, device);
  EXPECT_EQ(c.name(), "nccl+mpi");
  call_everything(c, Tensor::zeros({3}));
  c.barrier();
  std::vector<std::string> expected = kEveryCall;
  expected.push_back("barrier");
  EXPECT_EQ(host->calls, expected);
  EXPECT_TRUE(device->calls.empty());
  EXPECT_EQ(c.bytes_sent(), 6 * 3 * 4);  // every call but recv sends the tensor's bytes
  auto sub = std::dynamic_pointer_cast<DeviceRoutingCommunicator>(c.split(0, 0));
  ASSERT_TRUE(sub);
  EXPECT_EQ(sub->host().name(), "mpi'");
  EXPECT_EQ(sub->device().name(), "nccl'");
}

TEST(DeviceRouting, CommunicatorsOfDifferentRanksAreRefused) {
  class Two final : public Communicator {
   public:
    int rank() const override { return 1; }
    int size() const override { return 2; }
    std::string name() const override { return "two"; }
    void all_reduce_sum(const Tensor&) override {}
    std::unique_ptr<Work> all_reduce_sum_async(const Tensor&) override { return nullptr; }
    void all_gather(const Tensor&, const Tensor&) override {}
    void reduce_scatter_sum(const Tensor&, const Tensor&) override {}
    void broadcast(const Tensor&, int) override {}
    void send(const Tensor&, int, int) override {}
    void recv(const Tensor&, int, int) override {}
    void barrier() override {}
    std::shared_ptr<Communicator> split(int, int) override { return nullptr; }
  };
  EXPECT_THROW(DeviceRoutingCommunicator(std::make_shared<Recorder>("mpi"), std::make_shared<Two>()), Error);
}

TEST(DeviceRouting, DeviceTensorsGoToTheDeviceCommunicator) {
  if (!cuda_built() || cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device";
  auto host = std::make_shared<Recorder>("mpi"), device = std::make_shared<Recorder>("nccl");
  DeviceRoutingCommunicator c(host, device);
  Tensor x = Tensor::zeros({3}, DType::F32, Device::cuda(0));
  call_everything(c, x);
  EXPECT_EQ(device->calls, kEveryCall);
  EXPECT_TRUE(host->calls.empty());
  try {
    c.all_gather(x, Tensor::zeros({3}));
    FAIL() << "a device tensor gathered into a host one";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("both tensors must be on the host, or both on the device"),
              std::string::npos)
        << e.what();
  }
}

TEST(StagedReads, AScopeCountsReadsApart) {
  Tensor x = Tensor::ones({4});
  int64_t reads = host_read_count(), staged = staged_read_count();
  {
    StagedReadScope scope;
    (void)x.to_vector<float>();
  }
  EXPECT_EQ(staged_read_count() - staged, 1);
  EXPECT_EQ(host_read_count() - reads, 0);
  (void)x.to_vector<float>();
  EXPECT_EQ(host_read_count() - reads, 1);
}

TEST(StagedReads, HostStagingCountsItsCopiesApart) {
  if (!cuda_built() || cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device";
  HostStagingCommunicator c(std::make_shared<Recorder>("mpi"));
  Tensor x = Tensor::ones({4}, DType::F32, Device::cuda(0));
  int64_t reads = host_read_count(), staged = staged_read_count();
  c.all_reduce_sum(x);
  c.broadcast(x, 0);
  EXPECT_EQ(staged_read_count() - staged, 2);
  EXPECT_EQ(host_read_count() - reads, 0);
}

}  // namespace
}  // namespace st
