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

// The gradient all-reduce. cpu: the world communicator (host buffers). cuda: local for one
// process; MPI with host staging when ranks share a device (NCCL needs one GPU per rank); NCCL
// when it is built and the world is MPI; else the world with host staging. On cuda with more
// than one process this is collective over the world (the device check, NCCL's initialisation).
CommunicatorChoice gradient_communicator(const ProcessGrid& grid, const Device& device,
                                         double timeout_seconds);

// The sequence-parallel collectives: grid.sp(), except on cuda with sp > 1, where host tensors
// (token counts) and device tensors (the (B, H, d_h, d_h) states, independent of N) share the
// SP group's MPI communicator, device tensors staged through host buffers.
CommunicatorChoice sequence_parallel_communicator(const ProcessGrid& grid, const Device& device);

}  // namespace st
