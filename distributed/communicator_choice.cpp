// Communicator choice for a training run; see communicator_choice.h.
#include "distributed/communicator_choice.h"

#include <vector>

#include <unistd.h>  // gethostname

#include "distributed/device_routing.h"
#include "distributed/host_staging.h"
#include "distributed/nccl/nccl_communicator.h"

namespace st {

namespace {
// FNV-1a of this host's name, as a non-negative int32.
int32_t host_name_hash() {
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  uint32_t h = 2166136261u;
  for (const char* c = host; *c; ++c) h = (h ^ static_cast<unsigned char>(*c)) * 16777619u;
  return static_cast<int32_t>(h & 0x7fffffffu);
}
}  // namespace

bool ranks_share_a_device(const ProcessGrid& grid, const Device& device) {
  Tensor mine = Tensor::from_vector<int32_t>({host_name_hash(), device.index}, {2});
  Tensor all = Tensor::zeros({grid.world_size(), 2}, DType::I32);  // (world, 2)
  grid.world().all_gather(mine, all);
  std::vector<int32_t> v = host_values<int32_t>(all);
  for (int a = 0; a < grid.world_size(); ++a)
    for (int b = a + 1; b < grid.world_size(); ++b)
      if (v[2 * a] == v[2 * b] && v[2 * a + 1] == v[2 * b + 1]) return true;
  return false;
}

namespace {

// How device tensors of `group` (the world, or an SP group) travel on cuda: NCCL over the group,
// or the group's own communicator with host staging, and why. Collective over the world.
CommunicatorChoice device_collectives(const ProcessGrid& grid, Communicator& group, const Device& device,
                                      double timeout_seconds, const std::string& what) {
  if (grid.world().name() == "mpi" && ranks_share_a_device(grid, device)) {
    // NCCL needs one GPU per rank (more ranks than GPUs on a node: local rank % visible devices).
    return {std::make_shared<HostStagingCommunicator>(borrow(group)),
            what + ": mpi with host staging (ranks of a node share " + device.str() + "; NCCL needs one GPU per rank)"};
  }
  if (nccl_built() && group.name() == "mpi")
    return {std::make_shared<DeviceRoutingCommunicator>(borrow(group),
                                                        make_nccl_communicator(group, device.index, timeout_seconds)),
            what + ": nccl on " + device.str()};
  return {std::make_shared<HostStagingCommunicator>(borrow(group)),
          what + ": " + group.name() + " with host staging (" +
              (nccl_built() ? "the communicator is not mpi, NCCL cannot bootstrap from it" : "this build has no NCCL") +
              ")"};
}

}  // namespace

CommunicatorChoice gradient_communicator(const ProcessGrid& grid, const Device& device,
                                         double timeout_seconds) {
  Communicator& world = grid.world();
  if (device.is_cpu()) return {borrow(world), ""};  // MPI (or local): host buffers
  if (grid.world_size() == 1) return {std::make_shared<LocalCommunicator>(), ""};
  return device_collectives(grid, world, device, timeout_seconds, "gradient all-reduce");
}

CommunicatorChoice sequence_parallel_communicator(const ProcessGrid& grid, const Device& device,
                                                  double timeout_seconds) {
  if (!device.is_cuda() || grid.sp_size() == 1) return {borrow(grid.sp()), ""};
  return device_collectives(grid, grid.sp(), device, timeout_seconds,
                            "sequence-parallel collectives (states of B x H x d_h^2 values per layer)");
}

}  // namespace st
