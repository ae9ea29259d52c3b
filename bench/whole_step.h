// st-bench --whole-step: the training step as st-train runs it, not only the model. Writes a
// split of random tokens (the last `padding` of each sequence padded) into a temporary directory,
// trains it with the Trainer (data loader, masks built from the ids, device-side metrics, the
// step's one host read, logging every step, the optimizer) for warmup + steps steps, and reads
// each step's time back from the run's metrics.jsonl. The run's own output goes to a log in that
// directory, which is removed afterwards unless keep_dir. With the trainer's preemption handlers
// installed (install_preemption_handlers), SIGTERM or SIGINT during the steps stops the run at the
// next step boundary, the directory is removed and WholeStepInterrupted is thrown. (A signal
// before the steps, while the split is written or the trainer sets up, ends the process at once,
// as it ends st-train, and leaves the directory.)
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/nn/model_config.h"
#include "core/tensor/error.h"

namespace st {

struct WholeStepSpec {
  ModelConfig model;
  int64_t batch = 1, n = 0;        // sequences per step, tokens per sequence (without CLS)
  int warmup = 1, steps = 3;
  std::string device = "cpu", precision = "fp32";
  int64_t threads = 0;
  double padding = 0;              // fraction of each sequence padded, at its end
  bool deterministic = true;       // train.deterministic
  std::string recompute = "none";  // train.recompute
  bool keep_dir = false;
};

struct WholeStepResult {
  std::vector<double> step_seconds;  // the measured steps (after the warm-up)
  int64_t peak_bytes = 0;            // the allocator's peak on the run's device over the run
  double host_reads_per_step = 0;    // core/tensor/host_reads.h, over the whole run
  std::string dir;                   // the temporary directory (gone unless keep_dir)
};

class WholeStepInterrupted : public Error {
 public:
  using Error::Error;
};

WholeStepResult run_whole_step(const WholeStepSpec& spec);

}  // namespace st
