// Compiled instead of nccl_communicator.cpp when the build has no CUDA: asking for the NCCL
// communicator reports that clearly, so nothing above needs to know whether CUDA was built.
#include "distributed/nccl/nccl_communicator.h"

namespace st {

bool nccl_built() { return false; }

std::shared_ptr<Communicator> make_nccl_communicator(Communicator&, int, double) {
  ST_THROW("this build has no NCCL support (CUDA not found at configure time)");
}

}  // namespace st
