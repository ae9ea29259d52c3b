// Which device a training process uses (config key `device`): cpu, cuda, or auto (cuda when this
// build has CUDA and a device is visible, else cpu). A CUDA process takes device
// local rank % visible devices, the local rank coming from the launcher's environment
// (OMPI_COMM_WORLD_LOCAL_RANK, SLURM_LOCALID, MPI_LOCALRANKID, LOCAL_RANK) or else MPI's
// shared-memory split (st-train does that). Pure functions of their arguments, so every branch
// is tested on machines without a GPU.
#pragma once
#include <string>

#include "core/tensor/dtype.h"

namespace st {

struct DeviceChoice {
  Device device;
  std::string reason;  // one line for the log: what was asked, what was found, what was chosen
};

// setting: the value of `device` (auto | cpu | cuda); cuda_built: this build has the CUDA backend;
// visible: CUDA devices this process sees; local_rank: rank among this node's processes (>= 0).
// Throws naming the key when cuda is asked for and cannot be had.
DeviceChoice choose_device(const std::string& setting, bool cuda_built, int visible, int local_rank);

// The local rank the launcher exported, or -1 when none of the variables above is set (or none
// holds a non-negative integer).
int local_rank_from_env();

}  // namespace st
