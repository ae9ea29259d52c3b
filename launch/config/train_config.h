// TrainConfig: everything a run needs, as read from a YAML file plus --set overrides through
// the schema in schema.h (which also documents every key: docs/config.md is generated from it).
#pragma once
#include <cstdint>
#include <string>

#include "core/nn/context.h"
#include "core/nn/model_config.h"

namespace st {

struct DataConfig {
  std::string train, val, test;  // shard globs; val/test may be empty
  std::string prepare;           // the command that makes the data (shown when it is missing)
  int64_t batch_size = 32;       // global batch (examples per optimizer step, all ranks)
  int64_t micro_batch = 0;       // examples per rank per forward/backward; 0: batch_size / dp
  int64_t shuffle_buffer = 4096;
  int64_t block_size = 256;
  int prefetch = 4;
  int64_t max_open_files = 64;   // per loader (train, val, test each)
};

struct OptimConfig {
  double lr = 1e-3;
  std::string schedule = "constant";
  int64_t warmup = 0;
  double min_lr_ratio = 0.0;
  double weight_decay = 0.01;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  bool decay_biases = false, decay_layernorm = false, decay_embeddings = false;
  double clip_norm = 1.0;  // 0: no clipping
};

struct LoopConfig {
  int64_t steps = 1000;
  int64_t eval_every = 0;        // 0: only at the end
  int64_t log_every = 10;
  int64_t checkpoint_every = 0;  // 0: only at the end (and on preemption)
  int64_t keep_checkpoints = 2;
  std::string nan_policy = "skip";  // skip | stop
  int64_t max_skipped = 10;         // skip: stop after this many skipped steps
  double memory_limit = 0;          // GiB a process may plan for; 0: the machine's or the GPU's memory
  double peak_tflops = 0;           // per process, for the logged MFU; 0: measured on the CPU, none on a GPU
  int64_t trace_steps = 0;          // steps traced (launch/step_trace.h); 0: none
  int64_t trace_first = 2;          // the first traced step
  bool deterministic = true;        // gradients repeat bitwise where a GPU kernel offers the choice
  Recompute recompute = Recompute::None;  // activation recompute (core/nn/context.h)
};

struct DistConfig {
  int sp = 1;
  double timeout_seconds = 600;
  double bucket_mb = 25;
  int zero = 0;  // 1: AdamW moments sharded over the ranks (distributed/zero1.h)
};

// The run directory's lock (launch/run_lock.h).
struct LockConfig {
  std::string mechanism = "auto";     // auto | flock | file
  double stale_seconds = 300;         // file mechanism: a heartbeat older than this is stale
  double requeue_wait_seconds = 60;   // a requeued Slurm job waits this long for its previous run
};
struct DistillConfig {
  std::string teacher;  // checkpoint whose embeddings the model learns (model.task: embedding)
};

struct TrainConfig {
  std::string run_dir = "runs/default";
  std::string init_from;  // model.init_from: initial weights (checkpoint or st-import output)
  uint64_t seed = 1;
  std::string device = "auto";     // auto | cpu | cuda
  std::string precision = "fp32";  // fp32 | bf16 (bf16 matrix products, fp32 everything else)
  int64_t threads = 0;             // CPU threads per process; 0: automatic (core/backend/thread_policy.h)
  ModelConfig model = data_sized_model();  // vocab_size, num_classes, max_len 0: from the data

  static ModelConfig data_sized_model() {
    ModelConfig m;
    m.num_classes = 0;
    return m;
  }
  DataConfig data;
  OptimConfig optim;
  LoopConfig train;
  DistConfig dist;
  DistillConfig distill;
  LockConfig lock;
};

}  // namespace st
