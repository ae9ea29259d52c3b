// st-bench --whole-step; see whole_step.h.
#include "bench/whole_step.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "core/tensor/allocator.h"
#include "core/tensor/host_reads.h"
#include "data/shard.h"
#include "distributed/process_grid.h"
#include "launch/config/schema.h"
#include "launch/trainer.h"

namespace st {

namespace {

// A new directory under $TMPDIR (or /tmp).
std::string make_temp_dir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base && *base ? base : "/tmp") + "/st-bench-XXXXXX";
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  ST_CHECK(::mkdtemp(buf.data()) != nullptr, "st-bench --whole-step: cannot create a directory like ", pattern);
  return buf.data();
}

// batch x (warmup + steps) examples: ids uniform in [1, vocab), the last `padding` of each
// sequence 0, labels uniform in [0, classes).
void write_split(const std::string& path, const WholeStepSpec& s) {
  ShardMeta meta;
  meta.task = "bench";
  meta.vocab_size = s.model.vocab_size;
  meta.num_classes = s.model.num_classes;
  meta.seq_len = s.n;
  int64_t examples = s.batch * (s.warmup + s.steps);
  int64_t padded = static_cast<int64_t>(s.padding * static_cast<double>(s.n));
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int32_t> token(1, static_cast<int32_t>(s.model.vocab_size - 1));
  std::uniform_int_distribution<int32_t> label(0, static_cast<int32_t>(s.model.num_classes - 1));
  ShardWriter w(path, meta);
  std::vector<int32_t> ids, labels;
  for (int64_t e = 0; e < examples; ++e) {
    for (int64_t j = 0; j < s.n; ++j) ids.push_back(j < s.n - padded ? token(rng) : 0);
    labels.push_back(label(rng));
    if (static_cast<int64_t>(labels.size()) == 64 || e + 1 == examples) {
      w.append(ids, {}, labels);
      ids.clear();
      labels.clear();
    }
  }
  w.close();
}

// Sends this process's stdout to `path` while alive (the Trainer's log lines would otherwise mix
// with st-bench's CSV).
class StdoutTo {
 public:
  explicit StdoutTo(const std::string& path) {
    std::fflush(stdout);
    saved_ = ::dup(STDOUT_FILENO);
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ST_CHECK(saved_ >= 0 && fd >= 0, "st-bench --whole-step: cannot redirect the run's output to ", path);
    ::dup2(fd, STDOUT_FILENO);
    ::close(fd);
  }
  ~StdoutTo() {
    std::fflush(stdout);
    ::dup2(saved_, STDOUT_FILENO);
    ::close(saved_);
  }
  StdoutTo(const StdoutTo&) = delete;
  StdoutTo& operator=(const StdoutTo&) = delete;

 private:
  int saved_ = -1;
};

}  // namespace

WholeStepResult run_whole_step(const WholeStepSpec& s) {
  ST_CHECK(s.n > 0 && s.batch > 0 && s.steps > 0 && s.warmup >= 0, "st-bench --whole-step: bad shape");
  WholeStepResult res;
  res.dir = make_temp_dir();
  struct Cleanup {
    const WholeStepResult& r;
    bool keep;
    ~Cleanup() {
      std::error_code ec;
      if (!keep) std::filesystem::remove_all(r.dir, ec);
    }
  } cleanup{res, s.keep_dir};
  write_split(res.dir + "/train-0.h5", s);
  std::string yaml = "run_dir: " + res.dir + "/run\nseed: 1\ndevice: " + s.device + "\nprecision: " + s.precision +
                     "\nthreads: " + std::to_string(s.threads) + "\ndata:\n  train: " + res.dir +
                     "/train-*.h5\n  batch_size: " + std::to_string(s.batch) +
                     "\ntrain:\n  steps: " + std::to_string(s.warmup + s.steps) +
                     "\n  log_every: 1\n  eval_every: 0\n  deterministic: " + (s.deterministic ? "true" : "false") +
                     "\n  recompute: " + s.recompute + "\n";
  TrainConfig cfg = train_config_from_yaml(yaml, "st-bench --whole-step");
  cfg.model = s.model;
  Device device = s.device == "cuda" ? Device::cuda(0) : Device::cpu();
  reset_peak_memory(device);
  int64_t reads = host_read_count();
  bool preempted = false;
  {
    StdoutTo quiet(res.dir + "/output.log");
    ProcessGrid grid(std::make_shared<LocalCommunicator>(), 1);
    preempted = Trainer(cfg, grid, TrainOptions{}).run().preempted;
  }
  if (preempted) throw WholeStepInterrupted("st-bench --whole-step: interrupted by a signal");
  res.peak_bytes = memory_stats(device).peak_bytes;
  res.host_reads_per_step =
      static_cast<double>(host_read_count() - reads) / static_cast<double>(s.warmup + s.steps);
  std::ifstream metrics(res.dir + "/run/metrics.jsonl");
  std::string line;
  while (std::getline(metrics, line)) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || j.value("split", "") != "train" || !j.contains("tokens_per_s")) continue;
    if (j.value("step", int64_t{0}) <= s.warmup) continue;
    double tokens_per_s = j["tokens_per_s"].get<double>();
    if (tokens_per_s > 0) res.step_seconds.push_back(static_cast<double>(s.batch * s.n) / tokens_per_s);
  }
  ST_CHECK(static_cast<int>(res.step_seconds.size()) == s.steps, "st-bench --whole-step: the run logged ",
           res.step_seconds.size(), " measured steps, expected ", s.steps, " (", res.dir, "/run/train.log)");
  return res;
}

}  // namespace st
