// How many CPU threads (OpenMP and BLAS) a process runs: the thread policy, decided once at
// start (docs/design.md, "Threads per rank").
//
// An explicit setting wins, first found in this order: the config key `threads` (> 0), the
// environment variable OMP_NUM_THREADS, then SLURM_CPUS_PER_TASK. Otherwise the count is
// automatic: the process's fair share of the CPUs in its affinity mask. Each CPU of the mask
// counts 1 / (the number of ranks on this node whose masks hold it); the sum, rounded down, at
// least 1. So ranks bound to disjoint cores use all of theirs, k unbound ranks sharing n CPUs
// use n / k each, and more ranks than CPUs run one thread each.
//
// decide_threads and summarize_node are pure functions of their arguments (tested without MPI or
// particular hardware); process_cpus reads this process's affinity mask.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace st {

enum class ThreadSource { Config, OmpNumThreads, SlurmCpusPerTask, Automatic };
// How the log names a source: "config threads", "OMP_NUM_THREADS", "SLURM_CPUS_PER_TASK",
// "automatic".
const char* name_of(ThreadSource s);

struct ThreadPolicyInput {
  std::vector<int> cpus;                    // this process's affinity mask: CPU ids
  std::vector<std::vector<int>> node_cpus;  // every rank's mask on this node (this one included);
                                            // empty: this process is alone
  int64_t config_threads = 0;               // the config key `threads`; 0: not set
  std::string omp_num_threads;              // the environment's value; "" when unset
  std::string slurm_cpus_per_task;
};

struct ThreadDecision {
  int threads = 1;
  ThreadSource source = ThreadSource::Automatic;
  int cpus = 0;       // CPUs in this process's mask
  int sharers = 1;    // the most ranks (this one included) whose masks hold one of this rank's CPUs
};

// Throws naming the variable or key when an explicit setting is not a positive integer (an
// OMP_NUM_THREADS list such as "4,2" gives its first entry, as OpenMP does for the outer level).
ThreadDecision decide_threads(const ThreadPolicyInput& in);

// One node's ranks as rank 0 logs them: a line such as
//   "threads: node n01: 4 ranks on 2 CPUs, not bound (every rank may run on all 2), 1 thread per rank (automatic)"
// and, when the ranks' threads together exceed the node's CPUs, a warning saying how to fix it.
struct NodeThreadSummary {
  std::string line;
  std::string warning;  // "" when the node is not oversubscribed
  int total_threads = 0, cpus = 0;
};
// masks[i], decisions[i]: rank i of the node, in local-rank order; online: the node's online CPUs
// (the line says "on 4 of 64 CPUs" when the masks hold fewer; 0: not known).
NodeThreadSummary summarize_node(const std::string& host, const std::vector<std::vector<int>>& masks,
                                 const std::vector<ThreadDecision>& decisions, int online = 0);

// The CPUs online on this machine (sysconf), at least 1.
int online_cpus();

// This process's affinity mask (sched_getaffinity), sorted; every CPU of the machine when the
// mask cannot be read.
std::vector<int> process_cpus();

// decide_threads for a process that runs alone (no ranks beside it): its mask, `threads`, and
// this environment's OMP_NUM_THREADS and SLURM_CPUS_PER_TASK.
ThreadDecision decide_threads_alone(int64_t config_threads);
// decide_threads_alone, then set_num_threads (backend.h) with its count: for programs that run
// without ranks beside them (benchmarks, st-tiny-train).
ThreadDecision apply_threads_alone(int64_t config_threads);

}  // namespace st
