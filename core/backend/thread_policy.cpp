// The thread policy; see thread_policy.h.
#include "core/backend/thread_policy.h"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <set>

#include "core/backend/backend.h"
#include "core/tensor/error.h"

namespace st {

namespace {

constexpr int kMaxThreads = 1 << 16;

// A positive thread count from `text` (spaces around it allowed; a comma-separated list gives
// its first entry). what: the variable or key, for the error.
int parse_thread_count(const std::string& text, const char* what) {
  std::string first = text.substr(0, text.find(','));
  size_t b = first.find_first_not_of(" \t"), e = first.find_last_not_of(" \t");
  std::string digits = b == std::string::npos ? "" : first.substr(b, e - b + 1);
  bool ok = !digits.empty() && digits.size() <= 6 &&
            std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; });
  long v = ok ? std::strtol(digits.c_str(), nullptr, 10) : 0;
  ST_CHECK(ok && v >= 1 && v <= kMaxThreads, what, ": '", text, "' is not a thread count (a whole number from 1 to ",
           kMaxThreads, "); unset it for the automatic count");
  return static_cast<int>(v);
}

// The automatic count: the sum over this rank's CPUs of 1 / (ranks holding that CPU), rounded
// down, at least 1. Also returns the most ranks sharing one of its CPUs.
int fair_share(const std::vector<int>& cpus, const std::vector<std::vector<int>>& node_cpus, int* sharers) {
  double share = 0;
  int most = 1;
  for (int cpu : cpus) {
    int holders = 0;
    for (const auto& mask : node_cpus) holders += std::binary_search(mask.begin(), mask.end(), cpu) ? 1 : 0;
    holders = std::max(holders, 1);  // node_cpus empty: alone
    most = std::max(most, holders);
    share += 1.0 / holders;
  }
  if (sharers) *sharers = most;
  // + 1e-9: n CPUs shared by k ranks sum to n/k in floating point, which may land just below.
  return std::clamp(static_cast<int>(share + 1e-9), 1, kMaxThreads);
}

std::vector<int> sorted_unique(std::vector<int> v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

std::string plural(int n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

}  // namespace

const char* name_of(ThreadSource s) {
  switch (s) {
    case ThreadSource::Config: return "config threads";
    case ThreadSource::OmpNumThreads: return "OMP_NUM_THREADS";
    case ThreadSource::SlurmCpusPerTask: return "SLURM_CPUS_PER_TASK";
    case ThreadSource::Automatic: break;
  }
  return "automatic";
}

ThreadDecision decide_threads(const ThreadPolicyInput& in) {
  ST_CHECK(in.config_threads >= 0 && in.config_threads <= kMaxThreads, "threads: ", in.config_threads,
           " is not a thread count (0: automatic, or 1 to ", kMaxThreads, ")");
  ThreadDecision d;
  std::vector<int> cpus = sorted_unique(in.cpus);
  std::vector<std::vector<int>> node;
  for (const auto& m : in.node_cpus) node.push_back(sorted_unique(m));
  d.cpus = static_cast<int>(cpus.size());
  int automatic = fair_share(cpus, node, &d.sharers);
  if (in.config_threads > 0) {
    d.threads = static_cast<int>(in.config_threads);
    d.source = ThreadSource::Config;
  } else if (!in.omp_num_threads.empty()) {
    d.threads = parse_thread_count(in.omp_num_threads, "OMP_NUM_THREADS");
    d.source = ThreadSource::OmpNumThreads;
  } else if (!in.slurm_cpus_per_task.empty()) {
    d.threads = parse_thread_count(in.slurm_cpus_per_task, "SLURM_CPUS_PER_TASK");
    d.source = ThreadSource::SlurmCpusPerTask;
  } else {
    d.threads = automatic;
    d.source = ThreadSource::Automatic;
  }
  return d;
}

NodeThreadSummary summarize_node(const std::string& host, const std::vector<std::vector<int>>& masks,
                                 const std::vector<ThreadDecision>& decisions, int online) {
  ST_CHECK(!masks.empty() && masks.size() == decisions.size(), "summarize_node: ", masks.size(), " masks for ",
           decisions.size(), " ranks");
  std::vector<std::vector<int>> sorted;
  std::set<int> all;
  for (const auto& m : masks) {
    sorted.push_back(sorted_unique(m));
    all.insert(m.begin(), m.end());
  }
  int ranks = static_cast<int>(masks.size());
  NodeThreadSummary s;
  s.cpus = static_cast<int>(all.size());
  bool identical = true, disjoint = true;
  size_t held = 0;
  for (const auto& m : sorted) {
    identical = identical && m == sorted[0];
    held += m.size();
  }
  disjoint = held == all.size();
  std::string binding = ranks == 1        ? ""
                        : identical       ? ", not bound (every rank may run on all " + std::to_string(s.cpus) + ")"
                        : disjoint        ? ", each bound to its own CPUs"
                                          : ", bound to overlapping sets of CPUs";
  int lo = kMaxThreads, hi = 0;
  std::set<std::string> sources;
  bool automatic = true;
  for (const auto& d : decisions) {
    lo = std::min(lo, d.threads);
    hi = std::max(hi, d.threads);
    s.total_threads += d.threads;
    sources.insert(name_of(d.source));
    automatic = automatic && d.source == ThreadSource::Automatic;
  }
  std::string source_text;
  for (const auto& name : sources) source_text += (source_text.empty() ? "" : ", ") + name;
  std::string per_rank = lo == hi ? plural(lo, "thread", "threads") : std::to_string(lo) + " to " + std::to_string(hi) + " threads";
  std::string of = online > s.cpus ? " of " + std::to_string(online) : "";
  s.line = "threads: node " + host + ": " + plural(ranks, "rank", "ranks") + " on " + std::to_string(s.cpus) + of +
           (s.cpus == 1 && of.empty() ? " CPU" : " CPUs") +
           binding + ", " + per_rank + " per rank (" + source_text + ")";
  if (s.total_threads > s.cpus) {
    std::string what = plural(ranks, "rank", "ranks") + " x " + per_rank + " = " + std::to_string(s.total_threads) +
                       " threads on " + plural(s.cpus, "CPU", "CPUs");
    if (automatic) {
      s.warning = "warning: node " + host + " runs " + what +
                  ": more ranks than CPUs, so the ranks take turns on them and every collective waits for the "
                  "slowest; start at most " + std::to_string(s.cpus) +
                  " ranks on this node (mpirun -np, srun --ntasks-per-node) or give the job more CPUs";
    } else {
      std::vector<std::vector<int>> node(sorted.begin(), sorted.end());
      int automatic_threads = fair_share(sorted[0], node, nullptr);
      s.warning = "warning: node " + host + " runs " + what + " (set by " + source_text +
                  "): threads wait for each other's CPUs; unset it for the automatic count (" +
                  plural(automatic_threads, "thread", "threads") +
                  " per rank here), or set OMP_WAIT_POLICY=passive if the oversubscription is meant";
    }
  }
  return s;
}

std::vector<int> process_cpus() {
  std::vector<int> cpus;
  for (int n = 1024; n <= (1 << 20) && cpus.empty(); n *= 4) {
    cpu_set_t* set = CPU_ALLOC(n);
    if (!set) break;
    size_t bytes = CPU_ALLOC_SIZE(n);
    CPU_ZERO_S(bytes, set);
    if (sched_getaffinity(0, bytes, set) == 0) {
      for (int c = 0; c < n; ++c)
        if (CPU_ISSET_S(c, bytes, set)) cpus.push_back(c);
      CPU_FREE(set);
      break;
    }
    int err = errno;
    CPU_FREE(set);
    if (err != EINVAL) break;  // EINVAL: the mask is larger than n CPUs; anything else: give up
  }
  if (cpus.empty()) {
    for (int c = 0; c < online_cpus(); ++c) cpus.push_back(c);
  }
  return cpus;
}

int online_cpus() {
  long online = sysconf(_SC_NPROCESSORS_ONLN);
  return static_cast<int>(std::clamp(online, 1L, 1L << 20));
}

ThreadDecision decide_threads_alone(int64_t config_threads) {
  ThreadPolicyInput in;
  in.cpus = process_cpus();
  in.config_threads = config_threads;
  if (const char* v = std::getenv("OMP_NUM_THREADS")) in.omp_num_threads = v;
  if (const char* v = std::getenv("SLURM_CPUS_PER_TASK")) in.slurm_cpus_per_task = v;
  return decide_threads(in);
}

ThreadDecision apply_threads_alone(int64_t config_threads) {
  ThreadDecision d = decide_threads_alone(config_threads);
  set_num_threads(d.threads);
  return d;
}

}  // namespace st
