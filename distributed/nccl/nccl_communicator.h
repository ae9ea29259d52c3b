// Communicator over NCCL on device (CUDA) tensors: collectives run on the communicator's own
// stream, fenced by CUDA events against the CUDA backend's compute stream. No CUDA or NCCL header
// here, so code above can include this in any build (no_nccl.cpp answers when CUDA is absent).
#pragma once
#include <memory>

#include "core/comm/communicator.h"

namespace st {

// True when this build has the NCCL communicator (the build has CUDA).
bool nccl_built();

// Creates the NCCL communicator over the ranks of `bootstrap`, which must be an MpiCommunicator:
// rank 0 makes the ncclUniqueId and broadcasts it over MPI, then a barrier, then every rank
// initialises NCCL on CUDA device `device` (normally its local rank). Every collective waits for
// the compute already queued on that device, and later compute waits for the collective.
// A collective (or the initialisation) that does not complete within `timeout_seconds`, or that
// NCCL reports as failed, prints which collective on which rank and aborts the job (MPI_Abort).
// send/recv: NCCL has no tags; messages between two ranks match in the order they are issued.
std::shared_ptr<Communicator> make_nccl_communicator(Communicator& bootstrap, int device,
                                                     double timeout_seconds);

}  // namespace st
