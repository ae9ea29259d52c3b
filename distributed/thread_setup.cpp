// Thread policy across a job; see thread_setup.h.
#include "distributed/thread_setup.h"

#include <unistd.h>

#include <climits>
#include <cstdlib>

#include "core/backend/backend.h"
#include "core/tensor/error.h"
#include "distributed/mpi_communicator.h"

namespace st {

namespace {

int rank_of(MPI_Comm comm) {
  int r = 0;
  MPI_Comm_rank(comm, &r);
  return r;
}

// Every rank's `mine` (ints) gathered on every rank of comm, in rank order.
std::vector<std::vector<int>> all_gather_lists(MPI_Comm comm, const std::vector<int>& mine, int job_rank) {
  int size = 0;
  MPI_Comm_size(comm, &size);
  int count = static_cast<int>(mine.size());
  std::vector<int> counts(size), offsets(size, 0);
  check_mpi(MPI_Allgather(&count, 1, MPI_INT, counts.data(), 1, MPI_INT, comm), job_rank, "Allgather (thread setup)");
  int64_t total = 0;
  for (int i = 0; i < size; ++i) {
    offsets[i] = static_cast<int>(total);
    total += counts[i];
    ST_CHECK(total < INT_MAX, "thread setup: the node's affinity masks hold too many CPUs (", total, ")");
  }
  std::vector<int> all(static_cast<size_t>(std::max<int64_t>(total, 1)));
  check_mpi(MPI_Allgatherv(mine.data(), count, MPI_INT, all.data(), counts.data(), offsets.data(), MPI_INT, comm),
            job_rank, "Allgatherv (thread setup)");
  std::vector<std::vector<int>> lists(size);
  for (int i = 0; i < size; ++i) lists[i].assign(all.begin() + offsets[i], all.begin() + offsets[i] + counts[i]);
  return lists;
}

// Every rank's text gathered on rank 0 of comm (others get nothing).
std::vector<std::string> gather_texts(MPI_Comm comm, const std::string& mine, int job_rank) {
  int size = 0, rank = rank_of(comm);
  MPI_Comm_size(comm, &size);
  int length = static_cast<int>(mine.size());
  std::vector<int> lengths(size), offsets(size, 0);
  check_mpi(MPI_Gather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, 0, comm), job_rank, "Gather (thread setup)");
  int total = 0;
  for (int i = 0; rank == 0 && i < size; ++i) {
    offsets[i] = total;
    total += lengths[i];
  }
  std::string all(static_cast<size_t>(std::max(total, 1)), '\0');
  check_mpi(MPI_Gatherv(mine.data(), length, MPI_CHAR, all.data(), lengths.data(), offsets.data(), MPI_CHAR, 0, comm),
            job_rank, "Gatherv (thread setup)");
  std::vector<std::string> texts;
  for (int i = 0; rank == 0 && i < size; ++i) texts.push_back(all.substr(offsets[i], lengths[i]));
  return texts;
}

// Throws `error` on every rank of job when any rank has one: the lowest failing rank's message,
// broadcast, so all ranks report the same thing.
void throw_if_any_failed(Communicator& job, MPI_Comm comm, const std::string& error, int job_rank) {
  int mine = error.empty() ? INT_MAX : job_rank, first = INT_MAX;
  check_mpi(MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm), job_rank, "Allreduce (thread setup)");
  if (first == INT_MAX) return;
  std::string message = broadcast_text(job, error, first);
  ST_THROW(message, first == job_rank ? "" : " (rank " + std::to_string(first) + "'s environment)");
}

std::string host_name() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "?";
  return name;
}

}  // namespace

ThreadSetup setup_threads(int64_t config_threads, Communicator* job) {
  auto* mpi = dynamic_cast<MpiCommunicator*>(job);
  ThreadSetup setup;
  if (mpi == nullptr) {
    ST_CHECK(job == nullptr || job->size() == 1, "thread setup: a job of ", job->size(),
             " processes needs an MPI communicator");
    setup.mine = decide_threads_alone(config_threads);
    std::vector<ThreadDecision> one{setup.mine};
    NodeThreadSummary s = summarize_node(host_name(), {process_cpus()}, one, online_cpus());
    setup.lines.push_back(s.line);
    if (!s.warning.empty()) setup.warnings.push_back(s.warning);
    set_num_threads(setup.mine.threads);
    return setup;
  }
  MPI_Comm job_comm = mpi->handle();
  int job_rank = rank_of(job_comm);
  MPI_Comm node = MPI_COMM_NULL;
  check_mpi(MPI_Comm_split_type(job_comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node), job_rank,
            "Comm_split_type (thread setup)");
  struct NodeComm {
    MPI_Comm& c;
    ~NodeComm() { MPI_Comm_free(&c); }
  } node_guard{node};

  ThreadPolicyInput in;
  in.cpus = process_cpus();
  in.node_cpus = all_gather_lists(node, in.cpus, job_rank);
  in.config_threads = config_threads;
  if (const char* v = std::getenv("OMP_NUM_THREADS")) in.omp_num_threads = v;
  if (const char* v = std::getenv("SLURM_CPUS_PER_TASK")) in.slurm_cpus_per_task = v;
  std::string error;
  try {
    setup.mine = decide_threads(in);
  } catch (const std::exception& e) {
    error = e.what();
  }
  throw_if_any_failed(*mpi, job_comm, error, job_rank);

  std::vector<std::vector<int>> decided =
      all_gather_lists(node, {setup.mine.threads, static_cast<int>(setup.mine.source)}, job_rank);
  std::string summary;  // node leaders: "line\nwarning"
  if (rank_of(node) == 0) {
    std::vector<ThreadDecision> decisions(decided.size());
    for (size_t i = 0; i < decided.size(); ++i) {
      decisions[i].threads = decided[i][0];
      decisions[i].source = static_cast<ThreadSource>(decided[i][1]);
    }
    NodeThreadSummary s = summarize_node(host_name(), in.node_cpus, decisions, online_cpus());
    summary = s.line + "\n" + s.warning;
  }
  for (const std::string& text : gather_texts(job_comm, summary, job_rank)) {
    if (text.empty()) continue;  // not a node leader
    size_t cut = text.find('\n');
    setup.lines.push_back(text.substr(0, cut));
    if (cut + 1 < text.size()) setup.warnings.push_back(text.substr(cut + 1));
  }
  set_num_threads(setup.mine.threads);
  return setup;
}

}  // namespace st
