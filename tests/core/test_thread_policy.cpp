// The thread policy as a pure function: affinity masks, the masks of the node's other ranks,
// the config key and the environment in; threads, their source and the per-node log line out.
#include <gtest/gtest.h>

#include <numeric>

#include "core/backend/thread_policy.h"
#include "core/tensor/error.h"

namespace st {
namespace {

std::vector<int> range(int first, int count) {
  std::vector<int> v(count);
  std::iota(v.begin(), v.end(), first);
  return v;
}

ThreadPolicyInput node_input(std::vector<int> mine, std::vector<std::vector<int>> node) {
  ThreadPolicyInput in;
  in.cpus = std::move(mine);
  in.node_cpus = std::move(node);
  return in;
}

TEST(ThreadPolicy, AloneUsesEveryCpuOfItsMask) {
  ThreadDecision d = decide_threads(node_input(range(0, 8), {}));
  EXPECT_EQ(d.threads, 8);
  EXPECT_EQ(d.source, ThreadSource::Automatic);
  EXPECT_EQ(d.cpus, 8);
  EXPECT_EQ(d.sharers, 1);
  // A rank alone in the node list is the same as alone.
  EXPECT_EQ(decide_threads(node_input(range(0, 8), {range(0, 8)})).threads, 8);
}

TEST(ThreadPolicy, UnboundRanksSplitTheSharedCpus) {
  // 2 ranks, both may run anywhere on 2 CPUs (mpirun --bind-to none on the 2-core machine).
  ThreadDecision d = decide_threads(node_input(range(0, 2), {range(0, 2), range(0, 2)}));
  EXPECT_EQ(d.threads, 1);
  EXPECT_EQ(d.sharers, 2);
  // 4 ranks on 16 CPUs: 4 each; 3 ranks on 16: 5 each (rounded down).
  std::vector<std::vector<int>> four(4, range(0, 16)), three(3, range(0, 16));
  EXPECT_EQ(decide_threads(node_input(range(0, 16), four)).threads, 4);
  EXPECT_EQ(decide_threads(node_input(range(0, 16), three)).threads, 5);
}

TEST(ThreadPolicy, MoreRanksThanCpusRunOneThreadEach) {
  std::vector<std::vector<int>> four(4, range(0, 2));
  ThreadDecision d = decide_threads(node_input(range(0, 2), four));
  EXPECT_EQ(d.threads, 1);
  EXPECT_EQ(d.sharers, 4);
}

TEST(ThreadPolicy, BoundRanksUseTheirOwnCpus) {
  // mpirun --bind-to core (--map-by slot:PE=4): disjoint masks, none shared.
  std::vector<std::vector<int>> node = {range(0, 4), range(4, 4), range(8, 4), range(12, 4)};
  ThreadDecision d = decide_threads(node_input(range(4, 4), node));
  EXPECT_EQ(d.threads, 4);
  EXPECT_EQ(d.sharers, 1);
  // Bound to one core each.
  EXPECT_EQ(decide_threads(node_input({1}, {{0}, {1}})).threads, 1);
}

TEST(ThreadPolicy, PartlyOverlappingMasksCountEachSharedCpuOnce) {
  // Two sockets of 4 CPUs, 2 ranks bound to each socket, plus this rank's mask order shuffled:
  // each rank owns half of its socket.
  std::vector<std::vector<int>> node = {range(0, 4), range(0, 4), range(4, 4), range(4, 4)};
  EXPECT_EQ(decide_threads(node_input({3, 1, 2, 0}, node)).threads, 2);
  // Rank A holds {0,1,2,3}, rank B holds {2,3}: A's share is 1 + 1 + 1/2 + 1/2 = 3, B's is 1.
  std::vector<std::vector<int>> overlap = {range(0, 4), range(2, 2)};
  EXPECT_EQ(decide_threads(node_input(range(0, 4), overlap)).threads, 3);
  EXPECT_EQ(decide_threads(node_input(range(2, 2), overlap)).threads, 1);
}

TEST(ThreadPolicy, ExplicitSettingsWinInOrder) {
  ThreadPolicyInput in = node_input(range(0, 2), std::vector<std::vector<int>>(4, range(0, 2)));
  in.slurm_cpus_per_task = "3";
  EXPECT_EQ(decide_threads(in).threads, 3);
  EXPECT_EQ(decide_threads(in).source, ThreadSource::SlurmCpusPerTask);
  in.omp_num_threads = "6";
  EXPECT_EQ(decide_threads(in).threads, 6);
  EXPECT_EQ(decide_threads(in).source, ThreadSource::OmpNumThreads);
  in.config_threads = 5;
  EXPECT_EQ(decide_threads(in).threads, 5);
  EXPECT_EQ(decide_threads(in).source, ThreadSource::Config);
  // The override is taken as given, even above the CPUs (the log warns).
  in.config_threads = 64;
  EXPECT_EQ(decide_threads(in).threads, 64);
}

TEST(ThreadPolicy, OmpNumThreadsListsAndSpacesAreRead) {
  ThreadPolicyInput in = node_input(range(0, 8), {});
  in.omp_num_threads = " 4 ";
  EXPECT_EQ(decide_threads(in).threads, 4);
  in.omp_num_threads = "3,2";  // nested levels: the outer one
  EXPECT_EQ(decide_threads(in).threads, 3);
}

TEST(ThreadPolicy, InvalidSettingsNameTheVariable) {
  for (const char* bad : {"abc", "0", "-2", "1.5", "4x", "99999999", ","}) {
    ThreadPolicyInput in = node_input(range(0, 2), {});
    in.omp_num_threads = bad;
    try {
      decide_threads(in);
      ADD_FAILURE() << "OMP_NUM_THREADS=" << bad << " accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("OMP_NUM_THREADS: '" + std::string(bad) + "' is not a thread count"),
                std::string::npos)
          << e.what();
    }
  }
  ThreadPolicyInput in = node_input(range(0, 2), {});
  in.slurm_cpus_per_task = "two";
  EXPECT_THROW(
      {
        try {
          decide_threads(in);
        } catch (const Error& e) {
          EXPECT_NE(std::string(e.what()).find("SLURM_CPUS_PER_TASK: 'two'"), std::string::npos) << e.what();
          throw;
        }
      },
      Error);
  in.slurm_cpus_per_task.clear();
  in.config_threads = -1;
  EXPECT_THROW(decide_threads(in), Error);
}

ThreadDecision made(int threads, ThreadSource source) {
  ThreadDecision d;
  d.threads = threads;
  d.source = source;
  return d;
}

TEST(ThreadPolicy, NodeLineSaysRanksCpusBindingAndThreads) {
  NodeThreadSummary unbound = summarize_node("n01", {range(0, 2), range(0, 2)},
                                             {made(1, ThreadSource::Automatic), made(1, ThreadSource::Automatic)});
  EXPECT_EQ(unbound.line,
            "threads: node n01: 2 ranks on 2 CPUs, not bound (every rank may run on all 2), 1 thread per rank "
            "(automatic)");
  EXPECT_EQ(unbound.warning, "");
  NodeThreadSummary bound = summarize_node("n02", {range(0, 4), range(4, 4)},
                                           {made(4, ThreadSource::Automatic), made(4, ThreadSource::Automatic)});
  EXPECT_EQ(bound.line, "threads: node n02: 2 ranks on 8 CPUs, each bound to its own CPUs, 4 threads per rank "
                        "(automatic)");
  NodeThreadSummary alone = summarize_node("laptop", {range(0, 8)}, {made(8, ThreadSource::Automatic)}, 8);
  EXPECT_EQ(alone.line, "threads: node laptop: 1 rank on 8 CPUs, 8 threads per rank (automatic)");
  // mpirun -np 1 binds its one process to one core (Open MPI's default for up to 2 processes).
  NodeThreadSummary one_core = summarize_node("vm", {{0}}, {made(1, ThreadSource::Automatic)}, 2);
  EXPECT_EQ(one_core.line, "threads: node vm: 1 rank on 1 of 2 CPUs, 1 thread per rank (automatic)");
  EXPECT_EQ(summarize_node("vm", {{0}}, {made(1, ThreadSource::Automatic)}).line,
            "threads: node vm: 1 rank on 1 CPU, 1 thread per rank (automatic)");
  NodeThreadSummary mixed = summarize_node("n03", {range(0, 4), range(2, 4)},
                                           {made(1, ThreadSource::OmpNumThreads), made(2, ThreadSource::Config)});
  EXPECT_EQ(mixed.line, "threads: node n03: 2 ranks on 6 CPUs, bound to overlapping sets of CPUs, 1 to 2 threads per "
                        "rank (OMP_NUM_THREADS, config threads)");
}

TEST(ThreadPolicy, OversubscribedNodeGetsOneWarningWithTheFix) {
  // 4 ranks on 2 CPUs, automatic: the ranks themselves are too many.
  std::vector<std::vector<int>> four(4, range(0, 2));
  NodeThreadSummary ranks = summarize_node("vm", four, std::vector<ThreadDecision>(4, made(1, ThreadSource::Automatic)));
  EXPECT_EQ(ranks.total_threads, 4);
  EXPECT_NE(ranks.warning.find("warning: node vm runs 4 ranks x 1 thread = 4 threads on 2 CPUs"), std::string::npos)
      << ranks.warning;
  EXPECT_NE(ranks.warning.find("start at most 2 ranks on this node"), std::string::npos) << ranks.warning;
  // 2 ranks x 2 threads from OMP_NUM_THREADS on 2 CPUs: the setting is the problem.
  std::vector<std::vector<int>> two(2, range(0, 2));
  NodeThreadSummary threads =
      summarize_node("vm", two, std::vector<ThreadDecision>(2, made(2, ThreadSource::OmpNumThreads)));
  EXPECT_NE(threads.warning.find("2 ranks x 2 threads = 4 threads on 2 CPUs (set by OMP_NUM_THREADS)"),
            std::string::npos)
      << threads.warning;
  EXPECT_NE(threads.warning.find("unset it for the automatic count (1 thread per rank here)"), std::string::npos)
      << threads.warning;
  EXPECT_NE(threads.warning.find("OMP_WAIT_POLICY=passive"), std::string::npos) << threads.warning;
  // Exactly full is not oversubscribed.
  EXPECT_EQ(summarize_node("vm", two, std::vector<ThreadDecision>(2, made(1, ThreadSource::OmpNumThreads))).warning,
            "");
}

TEST(ThreadPolicy, ThisProcessHasAnAffinityMask) {
  std::vector<int> cpus = process_cpus();
  ASSERT_FALSE(cpus.empty());
  EXPECT_TRUE(std::is_sorted(cpus.begin(), cpus.end()));
  EXPECT_GE(decide_threads_alone(0).threads, 1);
}

}  // namespace
}  // namespace st
