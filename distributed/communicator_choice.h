// Which communicator carries a training run's gradient all-reduce and its sequence-parallel
// collectives, chosen from the device the run trains on and the process grid, together with the
// log line that says what was chosen and why.
#pragma once
#include <memory>
#include <string>

#include "core/comm/communicator.h"
#include "core/tensor/dtype.h"
#include "distributed/process_grid.h"

namespace st {

struct CommunicatorChoice {
  std::shared_ptr<Communicator> comm;
  std::string note;  // one line for the log; empty when the choice needs no explanation
};

// True when two ranks of the world run on the same device of the same host: every rank
// all-gathers (FNV-1a hash of its host name, device index) over grid.world(). A hash collision
// across hosts would only choose the slower (still correct) host-staged path.
bool ranks_share_a_device(const ProcessGrid& grid, const Device& device);

// The world's communicator for the run's tensors, host and device alike: the gradient all-reduce,
// the loss and metric sums, host flags. cpu: the world communicator (host buffers). cuda: local
// for one process; MPI with host staging when ranks share a device (NCCL needs one GPU per rank);
// NCCL for device tensors and MPI for host ones (DeviceRoutingCommunicator) when NCCL is built and
// the world is MPI; else the world with host staging. On cuda with more than one process this is
// collective over the world (the device check, NCCL's initialisation).
CommunicatorChoice gradient_communicator(const ProcessGrid& grid, const Device& device,
                                         double timeout_seconds);

// The sequence-parallel collectives (the (B, H, d_h, d_h) states, independent of N, and token
// counts): grid.sp(), except on cuda with sp > 1, where device tensors go over an NCCL
// communicator of the SP group (host tensors over its MPI one), chosen by the same rules as the
// gradient all-reduce: host staging through the SP group's MPI communicator where ranks share a
// device, NCCL is not built or the world is not MPI. Collective over the world on cuda with sp > 1.
CommunicatorChoice sequence_parallel_communicator(const ProcessGrid& grid, const Device& device,
                                                  double timeout_seconds);

}  // namespace st
