// Device choice for st-train; see device.h.
#include "launch/device.h"

#include <cstdlib>
#include <string>

#include "core/tensor/error.h"

namespace st {

DeviceChoice choose_device(const std::string& setting, bool cuda_built, int visible, int local_rank) {
  ST_CHECK(setting == "auto" || setting == "cpu" || setting == "cuda", "device: unknown value '", setting,
           "' (valid: auto, cpu, cuda)");
  ST_CHECK(local_rank >= 0, "device: local rank ", local_rank, " is negative");
  if (setting == "cpu") return {Device::cpu(), "device: cpu (as configured)"};
  if (setting == "cuda") {
    ST_CHECK(cuda_built, "device: cuda, but this build has no CUDA backend (configure with the CUDA toolkit: "
             "cmake -DST_CUDA=ON); use device: cpu or device: auto");
    ST_CHECK(visible > 0, "device: cuda, but no CUDA device is visible to this process (check nvidia-smi and "
             "CUDA_VISIBLE_DEVICES); use device: cpu or device: auto");
  } else if (!cuda_built || visible == 0) {
    return {Device::cpu(), std::string("device: auto -> cpu (") +
                               (cuda_built ? "no CUDA device is visible" : "this build has no CUDA backend") + ")"};
  }
  int index = local_rank % visible;
  return {Device::cuda(index), "device: " + setting + " -> cuda:" + std::to_string(index) + " (local rank " +
                                   std::to_string(local_rank) + " of a node with " + std::to_string(visible) +
                                   " visible CUDA device(s))"};
}

int local_rank_from_env() {
  for (const char* name : {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "MPI_LOCALRANKID", "LOCAL_RANK"}) {
    const char* v = std::getenv(name);
    if (!v || !*v) continue;
    char* end = nullptr;
    long r = std::strtol(v, &end, 10);
    if (end && *end == '\0' && r >= 0 && r < (1L << 30)) return static_cast<int>(r);
  }
  return -1;
}

}  // namespace st
