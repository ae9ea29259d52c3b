// The training loop (docs/design.md, "Runs and checkpoints"): micro-batches accumulated to the
// global batch, gradient sync over the process grid, AdamW with the configured schedule and
// clipping, NaN/Inf policy, evaluation every k steps with exact metrics, best and periodic
// checkpoints, preemption (SIGTERM / SIGUSR1: checkpoint at the next step boundary, then a clean
// exit), resume, and a final test evaluation of the best checkpoint.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "data/shard.h"
#include "distributed/process_grid.h"
#include "launch/config/train_config.h"

namespace st {

struct RunResult {
  int64_t steps_done = 0;
  bool preempted = false;
  double val_accuracy = -1, val_loss = -1;    // of the best checkpoint (-1: no validation)
  double test_accuracy = -1, test_loss = -1;  // -1: no test split
  int64_t best_step = 0;
  double seconds = 0;
  // Peak memory of every rank, in bytes: the process's maximum resident set, and the peak in use
  // of the allocator of the run's device (CPU or CUDA; freed blocks it keeps for reuse are in
  // the resident set, not here). Index = world rank.
  std::vector<double> peak_resident, peak_allocator;
  // Bytes of AdamW moments each rank holds (distributed.zero 1 shards them). Index = world rank.
  std::vector<double> optimizer_bytes;
};

struct TrainOptions {
  TrainOptions() = default;
  TrainOptions(bool resume_, bool dry_run_, int local_rank_ = -1)
      : resume(resume_), dry_run(dry_run_), local_rank(local_rank_) {}
  bool resume = false;   // continue from the newest checkpoint in cfg.run_dir
  bool dry_run = false;  // print the resolved config, parameter count, memory estimate, layout; exit
  // Rank among this node's processes, for the CUDA device (local rank % visible devices);
  // -1: from the launcher's environment (launch/device.h), else 0.
  int local_rank = -1;
  // --resume auto: resume when cfg.run_dir holds a step checkpoint, else start fresh (decided by
  // rank 0 under the run_dir lock). Overrides `resume`.
  bool resume_auto = false;
  // Keys that may differ from the stored config on resume beyond the free ones
  // (free_on_resume, launch/config/schema.h); --allow-change.
  std::vector<std::string> allow_change;
};

// Fills model sizes left at 0 from the training data and checks that data and model agree;
// returns the training data's attributes. Throws naming the key and the file on disagreement.
// `check`: how far the shards are validated (data/shard.h).
ShardMeta resolve_against_data(TrainConfig& cfg, ShardCheck check = ShardCheck::Full);

class Trainer {
 public:
  Trainer(TrainConfig cfg, ProcessGrid& grid, TrainOptions options);
  ~Trainer();
  RunResult run();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Installs the SIGTERM / SIGUSR1 handlers that request a checkpoint-and-exit.
void install_preemption_handlers();
bool preemption_requested();

}  // namespace st
