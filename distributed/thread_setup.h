// The thread policy (core/backend/thread_policy.h) applied across a job: every rank learns the
// affinity masks of the ranks on its node (MPI's shared-memory split of the job's communicator),
// decides its thread count, and sets it for OpenMP and BLAS. Rank 0 of the job receives one
// summary line per node, and a warning for each node whose ranks' threads exceed its CPUs.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/backend/thread_policy.h"
#include "core/comm/communicator.h"

namespace st {

struct ThreadSetup {
  ThreadDecision mine;
  std::vector<std::string> lines;     // job rank 0: one per node, in node order; others: none
  std::vector<std::string> warnings;  // job rank 0: one per oversubscribed node
};

// config_threads: the config key `threads` (0: not set). job: the processes that train together.
// When job is an MPI communicator this is collective over it (every rank of it calls), and the
// node split is of job; otherwise (null, or a one-process communicator of another kind) the
// process decides alone. Throws on every rank, with the same message, when any rank's setting is
// invalid.
ThreadSetup setup_threads(int64_t config_threads, Communicator* job);

}  // namespace st
