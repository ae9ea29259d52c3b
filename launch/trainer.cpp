// The training loop; see trainer.h.
#include "launch/trainer.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>
#include <tuple>

#include "core/backend/backend.h"
#include "core/backend/fused_attention.h"
#include "core/build_info.h"
#include "core/nn/flops.h"
#include "core/nn/memory_estimate.h"
#include "core/tensor/host_reads.h"
#include "core/nn/model.h"
#include "core/ops/ops.h"
#include "core/ops/precision.h"
#include "core/optim/adamw.h"
#include "core/optim/schedule.h"
#include "data/loader.h"
#include "data/io_error.h"
#include "data/tasks/vocab.h"
#include "distributed/communicator_choice.h"
#include "distributed/host_staging.h"
#include "distributed/data_parallel.h"
#include "distributed/exit_codes.h"
#include "distributed/parallel_loss.h"
#include "distributed/thread_setup.h"
#include "distributed/zero1.h"
#include "launch/checkpoint.h"
#include "launch/config/schema.h"
#include "launch/device.h"
#include "launch/run_lock.h"
#include "launch/run_log.h"
#include "launch/step_trace.h"

namespace st {

namespace fs = std::filesystem;

namespace {
using Clock = std::chrono::steady_clock;

// Signals (docs/design.md, "Runs and checkpoints"): SIGUSR1 always asks for a checkpoint at the
// next step boundary. SIGTERM and SIGINT do so inside the training loop; outside it (set-up, data
// opening, the final test), where there is nothing to save, they end the process at once, and so
// does a second SIGINT inside the loop (Ctrl-C twice). Only async-signal-safe calls here.
std::atomic<bool> g_preempt{false};
std::atomic<bool> g_in_loop{false};

void write_stderr(const char* text) {
  size_t n = 0;
  while (text[n] != '\0') ++n;
  ssize_t ignored = ::write(STDERR_FILENO, text, n);
  (void)ignored;
}

void on_signal(int sig) {
  bool stop_now = sig != SIGUSR1 && (!g_in_loop.load() || (sig == SIGINT && g_preempt.load()));
  if (!stop_now) {  // a repeated SIGTERM (launcher and scheduler both send one) still waits
    g_preempt.store(true);
    return;
  }
  write_stderr(sig == SIGTERM ? "st-train: SIGTERM outside the training loop: stopping now; "
                                "checkpoints already written are kept\n"
                              : "st-train: SIGINT outside the training loop, or a second one: stopping now; "
                                "checkpoints already written are kept\n");
  ::_exit(128 + sig);
}

// Marks the training loop for the signal handler while it lives.
struct InTrainingLoop {
  InTrainingLoop() { g_in_loop.store(true); }
  ~InTrainingLoop() { g_in_loop.store(false); }
};

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), f, v);
  return buf;
}

std::string duration_text(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  long long t = static_cast<long long>(s);
  char buf[32];
  if (t >= 3600) std::snprintf(buf, sizeof(buf), "%lldh%02lldm", t / 3600, (t % 3600) / 60);
  else std::snprintf(buf, sizeof(buf), "%lldm%02llds", t / 60, t % 60);
  return buf;
}

// Embedding task: (sum of cosines, counted rows) of normalised embeddings against normalised
// targets; rows with a zero target are not counted.
std::pair<double, double> cosine_counts(const Tensor& emb, const Tensor& targets) {
  int64_t B = emb.size(0), d = emb.size(1);
  auto e = emb.contiguous().to_vector<float>(), t = targets.contiguous().to_vector<float>();
  double total = 0, counted = 0;
  for (int64_t b = 0; b < B; ++b) {
    double dot = 0, tt = 0;
    for (int64_t j = 0; j < d; ++j) {
      dot += static_cast<double>(e[b * d + j]) * t[b * d + j];
      tt += static_cast<double>(t[b * d + j]) * t[b * d + j];
    }
    if (tt == 0) continue;
    total += dot;
    counted += 1;
  }
  return {total, counted};
}
}  // namespace

void install_preemption_handlers() {
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  std::signal(SIGUSR1, on_signal);
}
bool preemption_requested() { return g_preempt.load(); }

ShardMeta resolve_against_data(TrainConfig& cfg, ShardCheck check) {
  ST_CHECK(!cfg.data.train.empty(), "data.train: no training shards given (a glob of shard files)");
  std::vector<ShardInfo> shards = as_error<DataError>([&] { return open_split(cfg.data.train, check); });
  const ShardMeta& m = shards[0].meta;
  ModelConfig& mc = cfg.model;
  const std::string& src = shards[0].path;
  if (mc.vocab_size == 0) mc.vocab_size = m.vocab_size;
  ST_CHECK(mc.vocab_size == m.vocab_size, "model.vocab_size: ", mc.vocab_size, " disagrees with the data (",
           src, " has vocab_size ", m.vocab_size, ")");
  if (mc.max_len == 0) mc.max_len = m.seq_len;
  ST_CHECK(mc.max_len >= m.seq_len, "model.max_len: ", mc.max_len, " is shorter than the data's sequences (",
           src, " has seq_len ", m.seq_len, ")");
  if (mc.task == TaskKind::Embedding) {
    // Any token shards: labels, if present, are not used.
  } else if (mc.task == TaskKind::LanguageModel) {
    ST_CHECK(m.is_lm(), "model.task: lm needs language-model shards, but ", src, " has ", m.num_classes, " classes");
  } else {
    ST_CHECK(!m.is_lm(), "model.task: ", name_of(mc.task), " needs labelled shards, but ", src,
             " is a language-model shard");
    if (mc.task == TaskKind::Classification) {
      if (mc.num_classes == 0) mc.num_classes = m.num_classes;
      ST_CHECK(mc.num_classes == m.num_classes, "model.num_classes: ", mc.num_classes,
               " disagrees with the data (", src, " has num_classes ", m.num_classes, ")");
    } else {
      ST_CHECK(m.pair, "model.task: retrieval needs pair shards (/inputs2), ", src, " has none");
      ST_CHECK(m.num_classes == 2, "model.task: retrieval needs 2 classes, ", src, " has ", m.num_classes);
    }
  }
  for (const std::string* g : {&cfg.data.val, &cfg.data.test}) {
    if (g->empty()) continue;
    std::vector<ShardInfo> split = as_error<DataError>([&] { return open_split(*g, check); });
    const ShardMeta& e = split[0].meta;
    ST_CHECK(e.vocab_size == m.vocab_size && e.num_classes == m.num_classes && e.seq_len == m.seq_len &&
                 e.pair == m.pair,
             "data: '", *g, "' disagrees with the training data '", cfg.data.train,
             "' (vocab_size, num_classes, seq_len or pairing differ)");
  }
  return m;
}

// The validation loader could not read on some rank; thrown by every rank with that rank's message.
struct EvaluationFailed : Error {
  using Error::Error;
};

struct Trainer::Impl {
  TrainConfig cfg;
  ProcessGrid& grid;
  TrainOptions opts;
  // Rank 0: this job's ownership of run_dir (run_lock.h); declared first, so released last.
  std::unique_ptr<RunDirLock> lock;
  std::unique_ptr<SimpleTronModel> model;
  std::unique_ptr<SimpleTronModel> teacher;  // embedding task: frozen, evaluation mode
  // The AdamW state: whole on every rank (distributed.zero 0), or sharded (1), one of the two.
  std::unique_ptr<AdamW> optimizer;
  std::unique_ptr<ShardedAdamW> sharded;
  // Where parameters, optimizer state and each batch live; the log line saying why.
  Device device = Device::cpu();
  std::string device_note, comm_note, precision_note, sp_note;
  // The communicator of the sequence-parallel collectives (communicator_choice.h).
  std::shared_ptr<Communicator> sp_comm;
  // Of the matrix products (precision.h); set for the whole run on the calling thread.
  Precision precision = Precision::FP32;
  // The communicator of the gradient all-reduce (communicator_choice.h); declared before `sync`,
  // which uses it.
  std::shared_ptr<Communicator> grad_comm;
  std::unique_ptr<GradientSync> sync;
  std::unique_ptr<Loader> train_loader, val_loader, test_loader;
  std::unique_ptr<RunLog> log;
  LrSchedule schedule;
  CheckpointState state;
  int64_t micro = 0, accum = 1, seq_len = 0;
  std::string config_yaml;
  ThreadSetup threads;  // this rank's CPU thread count; on rank 0 also the per-node summary

  Impl(TrainConfig c, ProcessGrid& g, TrainOptions o) : cfg(std::move(c)), grid(g), opts(o) {}

  bool root() const { return grid.world_rank() == 0; }
  bool embedding() const { return cfg.model.task == TaskKind::Embedding; }
  // Name of the second metric: argmax accuracy, or mean cosine to the teacher (embedding).
  const char* metric_name() const { return embedding() ? "cosine" : "accuracy"; }
  // The metric's (sum, count) as a (2) f64 tensor on the device (nothing is read back): for the
  // embedding task the cosines to the teacher and the counted rows; otherwise `hits`, the argmax
  // hits and counted targets the loss's own pass gave; zeros on a rank without output.
  Tensor metric_counts(const ModelOutput& out, const Tensor& targets, const Tensor& hits) const {
    if (!out.has_output()) return on_device(Tensor::zeros({2}, DType::F64));
    if (embedding()) {
      auto [total, counted] = cosine_counts(out.logits, targets);
      return on_device(Tensor::from_vector<double>({total, counted}, {2}));
    }
    return hits;
  }
  void setup_teacher();
  void initialise_weights();
  void choose_device();
  Tensor on_device(const Tensor& t) const { return t.defined() ? t.to(device) : t; }
  // Sets ctx.may_pad (the host batch holds padding: the model builds padding masks only then)
  // and ctx.padding_at_end (the fused softmax attention masks keys by length, O(N)), deciding on
  // the host what the model would otherwise read back.
  // Sets the context's padding flags; returns the batch's real tokens (on this rank).
  static int64_t set_padding(const Batch& b, RunContext& ctx) {
    BatchPadding padding = batch_padding(b);
    ctx.may_pad = padding.any;
    ctx.padding_at_end = padding.at_end;
    return padding.tokens;
  }
  // The model's RunContext for micro-step `step` (dropout stream), with this run's SP communicator,
  // train.deterministic and train.recompute.
  RunContext context(uint32_t step) const {
    RunContext ctx = grid.context(cfg.seed, step, micro * grid.dp_size(), seq_len, cfg.model.uses_cls());
    ctx.sp = sp_comm.get();
    ctx.deterministic = cfg.train.deterministic;
    ctx.recompute = cfg.train.recompute;
    return ctx;
  }
  // The validation / test metric as logged: a cosine, or a percentage.
  std::string metric_text(double v) const { return embedding() ? fmt("%.4f", v) : fmt("%.2f%%", 100 * v); }

  // Bytes of AdamW moments this rank holds; what the estimate expects per parameter (8, or 8 / W
  // sharded).
  int64_t optimizer_bytes() const {
    if (sharded) return sharded->state_bytes();
    int64_t bytes = 0;
    for (const AdamW::Slot& slot : optimizer->slots()) bytes += (slot.m.numel() + slot.v.numel()) * 4;
    return bytes;
  }
  double moment_bytes_per_parameter() const { return cfg.dist.zero == 1 ? 8.0 / grid.world_size() : 8.0; }

  void setup();
  void validate_inputs();
  bool without_data = false;  // a dry run planning from the config's sizes (no training data)
  std::vector<std::string> dry_run_notes;  // what the run itself would meet (printed by the dry run)
  void check_run_dir();
  std::string config_changes(const TrainConfig& old, int64_t step, const std::string& from) const;
  std::string auto_note;  // what --resume auto decided
  std::string resume_from;                // the checkpoint --resume continues from (check_run_dir)
  std::vector<std::string> resume_notes;  // newer checkpoints skipped, and why
  int64_t resume_step = 0;                // its step
  void repair_metrics(std::vector<std::string>* notes) const;
  void set_aside_earlier_attempt(std::vector<std::string>* notes) const;
  LoaderConfig loader_config(const std::string& glob, bool training) const;
  Tensor targets_for(const Batch& b) const;
  // interrupted: when given, a preemption signal ends the evaluation early (set to true; the
  // result is then meaningless).
  std::pair<double, double> evaluate(Loader& loader, double* loss_out, bool* interrupted = nullptr);
  void save(const std::string& path);

  // What one training step produced. metric_sum, metric_count: this rank's counts of the metric;
  // accuracy: the metric over the world, once the update is applied.
  struct StepResult {
    Clock::time_point started;
    double loss = 0, grad_norm = 0;
    double accuracy = 0, lr = 0;
    double metric_sum = 0, metric_count = 0;  // over the world: accuracy = metric_sum / metric_count
    double tokens = 0;             // real tokens over the world (padding not counted)
    double wait = 0, seconds = 0;  // waiting for data, and the whole step
    // The step's phases on this process, host time: forward (with the loss), backward (with the
    // gradient all-reduces it overlaps), sync (waiting for the last all-reduces, the step's
    // reductions and its one host read), optimizer (clipping and AdamW).
    double forward = 0, backward = 0, sync = 0, optimizer = 0;
    bool finite() const { return std::isfinite(loss) && std::isfinite(grad_norm); }
  };
  // The training loop's pace (for the ETA), and the sums over the log window (the steps since
  // the last train metrics) that the logged values average.
  struct Progress {
    Clock::time_point started;
    int64_t first_step = 0;  // the step the loop started after (resume)
    int64_t steps = 0;
    double wait = 0, seconds = 0;
    double loss = 0, grad_norm = 0, metric_sum = 0, metric_count = 0, tokens = 0;
    double forward = 0, backward = 0, sync = 0, optimizer = 0;
    void add(const StepResult& r) {
      ++steps;
      wait += r.wait;
      seconds += r.seconds;
      forward += r.forward;
      backward += r.backward;
      sync += r.sync;
      optimizer += r.optimizer;
      loss += r.loss;
      grad_norm += r.grad_norm;
      metric_sum += r.metric_sum;
      metric_count += r.metric_count;
      tokens += r.tokens;
    }
    void start_window() { *this = Progress{started, first_step}; }
  };
  // Language models: perplexity, and bits per byte where a token is a byte (st-data lm).
  void add_lm_metrics(double loss, std::map<std::string, double>& values) const;
  bool byte_tokens = false;
  // Nominal training FLOPs of a step (core/nn/flops.h), and the peak FLOP/s of all processes
  // together that the mfu is reported against (0: none).
  double step_flops = 0, peak_flops = 0;
  StepTrace trace;  // train.trace_steps
  void trace_step_end(int64_t step);
  double flops_per_step() const;
  void measure_peak_flops();
  // The largest peak of the device allocator over the ranks so far (a collective).
  double largest_peak_bytes();
  std::string headline() const;
  void print_dry_run(const std::string& headline) const;
  double activation_bytes() const;
  void check_memory() const;
  StepResult train_step(int64_t step);
  void handle_non_finite(int64_t step, const StepResult& r);
  void apply_update(int64_t step, StepResult& r);
  void log_step(int64_t step, const StepResult& r, Progress& progress);
  void evaluate_and_keep_best(int64_t step);
  bool checkpoint_or_preempt(int64_t step);
  void final_test(RunResult& res);
  void write_results(const RunResult& res) const;
  void gather_peak_memory(RunResult& res);
  RunResult run();
};

LoaderConfig Trainer::Impl::loader_config(const std::string& glob, bool training) const {
  LoaderConfig l;
  l.glob = glob;
  l.batch_size = micro;
  l.training = training;
  l.seed = cfg.seed;
  l.shuffle_buffer = cfg.data.shuffle_buffer;
  l.block_size = cfg.data.block_size;
  l.prefetch = cfg.data.prefetch;
  l.max_open_files = cfg.data.max_open_files;
  l.dp_rank = grid.dp_rank();
  l.dp_size = grid.dp_size();
  l.sp_rank = grid.sp_rank();
  l.sp_size = grid.sp_size();
  return l;
}

void Trainer::Impl::choose_device() {
  // Checked before any work: precision, then the device, then what the device supports.
  precision = parse_precision(cfg.precision);
  int local = opts.local_rank >= 0 ? opts.local_rank : std::max(local_rank_from_env(), 0);
  DeviceChoice dc = st::choose_device(cfg.device, cuda_built(), cuda_device_count(), local);
  device = dc.device;
  if (cfg.device != "cpu") device_note = dc.reason;
  // A dry run sets up no NCCL (it communicates nothing on the device).
  CommunicatorChoice sp = opts.dry_run ? CommunicatorChoice{borrow(grid.sp()), ""}
                                       : sequence_parallel_communicator(grid, device, cfg.dist.timeout_seconds);
  sp_comm = sp.comm;
  sp_note = sp.note;
  if (precision == Precision::BF16 && device.is_cpu())
    precision_note = "precision: bf16 on cpu rounds the operands of every matrix product to bf16 as a GPU would "
                     "(same results up to summation order) and is slower than fp32: meant for checking a bf16 run "
                     "before it goes to a GPU";
}

// A dry run whose training data is absent: the sizes the data would give come from the config
// (model.vocab_size, model.max_len as the sequence length, model.num_classes for
// classification), and any that is not given is an error naming them all. Returns the
// sequence length.
static int64_t sizes_without_data(const TrainConfig& cfg) {
  const ModelConfig& mc = cfg.model;
  std::vector<std::string> missing;
  if (mc.vocab_size == 0) missing.push_back("model.vocab_size");
  if (mc.max_len == 0) missing.push_back("model.max_len");
  if (mc.task == TaskKind::Classification && mc.num_classes == 0) missing.push_back("model.num_classes");
  if (!missing.empty()) {
    std::string keys, sets;
    for (const std::string& k : missing) {
      keys += (keys.empty() ? "" : ", ") + k;
      sets += " --set " + k + "=...";
    }
    throw ConfigError("--dry-run: data.train '" + cfg.data.train + "' matches no file, so the sizes it would give are " +
                      "unknown: " + keys + ". Give them (" + sets.substr(1) + ") to plan without the data");
  }
  return mc.max_len;
}

// The config against itself, the data and the layout; reads only. Errors of the data files are
// DataErrors; the caller counts any other as a config error. A dry run plans without the data
// when data.train matches no file (sizes_without_data).
void Trainer::Impl::validate_inputs() {
  ST_CHECK(!cfg.data.train.empty(), "data.train: no training shards given (a glob of shard files)");
  without_data = opts.dry_run && split_files(cfg.data.train).empty();
  if (without_data) {
    seq_len = sizes_without_data(cfg);
  } else {
    try {
      seq_len = resolve_against_data(cfg).seq_len;
    } catch (const Error& e) {  // missing or unfitting data: say how it is made
      if (cfg.data.prepare.empty()) throw;
      std::string message = std::string(e.what()) + "\n  make the data: " + cfg.data.prepare;
      if (dynamic_cast<const DataError*>(&e)) throw DataError(message);
      throw ConfigError(message);
    }
  }
  cfg.model.init_seed = cfg.seed;
  cfg.model.validate();
  grid.validate(cfg.model, seq_len);
  int64_t dp = grid.dp_size();
  micro = cfg.data.micro_batch > 0 ? cfg.data.micro_batch : cfg.data.batch_size / dp;
  ST_CHECK(micro >= 1 && cfg.data.batch_size % (dp * micro) == 0, "data.batch_size: ", cfg.data.batch_size,
           " is not a multiple of dp (", dp, ") x data.micro_batch (", micro, ")");
  accum = cfg.data.batch_size / (dp * micro);
  schedule = LrSchedule{parse_schedule(cfg.optim.schedule), cfg.optim.lr, cfg.optim.warmup, cfg.train.steps,
                        cfg.optim.min_lr_ratio};
  schedule.validate();
  check_memory();
  config_yaml = to_yaml(cfg);

  ST_CHECK(grid.world_size() == 1 || cfg.lock.requeue_wait_seconds < cfg.dist.timeout_seconds,
           "lock.requeue_wait_seconds (", cfg.lock.requeue_wait_seconds, ") must be below distributed.timeout_seconds (",
           cfg.dist.timeout_seconds, "): the other ranks wait that long for rank 0 to take the run_dir lock");
  parse_lock_mechanism(cfg.lock.mechanism);
  if (opts.resume) {
    ST_CHECK(fs::is_directory(cfg.run_dir), "--resume ", cfg.run_dir, ": no such directory");
    ST_CHECK(!step_checkpoints(cfg.run_dir).empty(), "--resume ", cfg.run_dir, ": no checkpoint in ",
             checkpoint_dir(cfg.run_dir));
  }
}

void Trainer::Impl::setup() {
  threads = setup_threads(cfg.threads, &grid.world());  // collective: every rank, before anything else
  choose_device();
  // Everything up to the lock only reads, and every rank meets its errors alike: decided
  // together, printed once, exit code by kind (a data file: kExitData; any other: a config error).
  run_together(grid.world(), [&] { as_error<ConfigError>([&] { validate_inputs(); }); });
  const int64_t dp = grid.dp_size();
  // Start-up order (docs/design.md, "Run directory ownership"): everything above only reads; a
  // dry run stops before the lock and writes nothing; the lock file is the first write; the
  // resume target is checked under the lock, since another job may have written until then.
  // The other ranks wait in a collective while rank 0 takes the lock (a requeued job may wait):
  LockMechanism mechanism = parse_lock_mechanism(cfg.lock.mechanism);
  if (opts.dry_run) {
    check_run_dir();
    model = std::make_unique<SimpleTronModel>(cfg.model);
    return;
  }
  std::vector<std::string> lock_notes;
  RunLockOptions lo;
  lo.mechanism = mechanism;
  lo.stale_seconds = cfg.lock.stale_seconds;
  lo.requeue_wait_seconds = cfg.lock.requeue_wait_seconds;
  lock = acquire_run_dir_lock(cfg.run_dir, lo, grid.world(), &lock_notes);
  check_run_dir();
  if (root() && !opts.resume) set_aside_earlier_attempt(&lock_notes);
  if (root() && opts.resume) {
    // Checkpoints newer than the one resumed from failed to verify: kept aside as *.damaged,
    // out of the way of pruning, which would otherwise keep them over good new ones.
    for (const std::string& p : step_checkpoints(cfg.run_dir)) {
      if (p <= resume_from) continue;
      std::error_code ec;
      fs::rename(p, p + ".damaged", ec);
      ST_CHECK(!ec, p, ": cannot move the damaged checkpoint aside: ", ec.message());
      lock_notes.push_back("resume: " + p + " moved aside to " + p + ".damaged");
    }
    // A best.h5 from after the checkpoint belongs to the steps being redone (and an unreadable
    // one to nothing): kept aside too. Its step attribute is enough to tell.
    std::string best = best_checkpoint_path(cfg.run_dir);
    auto after_resume = [&] {
      try {
        return load_checkpoint(best, nullptr, nullptr).step > resume_step;
      } catch (const std::exception&) {
        return true;
      }
    };
    if (fs::exists(best) && after_resume()) {
      std::error_code ec;
      fs::rename(best, best + ".after-step-" + std::to_string(resume_step), ec);
      ST_CHECK(!ec, best, ": cannot move it aside: ", ec.message());
      lock_notes.push_back("resume: " + best + " is from after step " + std::to_string(resume_step) +
                           "; moved aside to " + best + ".after-step-" + std::to_string(resume_step));
    }
    repair_metrics(&lock_notes);
  }
  if (root()) write_text_atomically(cfg.run_dir + "/config.yaml", config_yaml);
  grid.world().barrier();
  log = std::make_unique<RunLog>(cfg.run_dir, root());
  for (const std::string& line : lock_notes) log->info(line);
  if (!auto_note.empty()) log->info(auto_note);
  for (const std::string& line : threads.lines) log->info(line);
  for (const std::string& warning : threads.warnings) log->info(warning);
  if (!device_note.empty()) log->info(device_note);
  if (!precision_note.empty()) log->info(precision_note);

  model = std::make_unique<SimpleTronModel>(cfg.model);
  if (!cfg.init_from.empty() && !opts.resume) initialise_weights();
  if (embedding()) setup_teacher();
  // Parameters move before the optimizer and gradient buckets are made, so their state is
  // allocated on the same device.
  model->to(device);
  if (teacher) teacher->to(device);
  AdamWConfig oc;
  oc.beta1 = cfg.optim.beta1;
  oc.beta2 = cfg.optim.beta2;
  oc.eps = cfg.optim.eps;
  oc.weight_decay = cfg.optim.weight_decay;
  oc.decay_biases = cfg.optim.decay_biases;
  oc.decay_layernorm = cfg.optim.decay_layernorm;
  oc.decay_embeddings = cfg.optim.decay_embeddings;
  CommunicatorChoice gc = gradient_communicator(grid, device, cfg.dist.timeout_seconds);
  grad_comm = gc.comm;
  comm_note = gc.note;
  sync = std::make_unique<GradientSync>(model->named_parameters(), *grad_comm, static_cast<int>(dp),
                                        static_cast<int64_t>(cfg.dist.bucket_mb * (1 << 20)),
                                        cfg.dist.zero == 1 ? GradReduce::ReduceScatter : GradReduce::AllReduce);
  if (cfg.dist.zero == 1)
    sharded = std::make_unique<ShardedAdamW>(model->named_parameters(), *sync, oc);
  else
    optimizer = std::make_unique<AdamW>(model->named_parameters(), oc);
  log->info("optimizer state: " + fmt("%.1f", static_cast<double>(optimizer_bytes()) / 1e6) + " MB per process" +
            (sharded ? " (AdamW moments sharded over " + std::to_string(grid.world_size()) + " process(es), distributed.zero 1)"
                     : ""));
  // On a GPU with sequence parallelism the SP collectives run inside backward on their own
  // communicator: the buckets wait for finish(), so that every rank issues collectives in one order.
  sync->set_overlap(!(device.is_cuda() && grid.sp_size() > 1));
  if (!comm_note.empty()) log->info(comm_note);
  if (!sp_note.empty()) log->info(sp_note);
  as_error<DataError>([&] {
    train_loader = std::make_unique<Loader>(loader_config(cfg.data.train, true));
    if (!cfg.data.val.empty()) val_loader = std::make_unique<Loader>(loader_config(cfg.data.val, false));
    if (!cfg.data.test.empty()) test_loader = std::make_unique<Loader>(loader_config(cfg.data.test, false));
  });
  byte_tokens = train_loader->meta().task == "lm" && train_loader->meta().vocab_size == tasks::kByteVocabSize;
  step_flops = flops_per_step();
  measure_peak_flops();
  state.seed = cfg.seed;
  state.loader_dp = dp;
  state.loader_micro_batch = micro;
  state.config_yaml = config_yaml;

  if (opts.resume) {
    const std::string& path = resume_from;  // check_run_dir: it verifies and is of this model
    for (const std::string& note : resume_notes) log->info(note);
    AdamWState moments;
    state = load_checkpoint(path, model.get(), &moments);
    if (sharded)
      sharded->load_state(moments);
    else
      optimizer->load_state(moments);
    // A cursor counted in another data-parallel layout: continue after the same examples.
    if (state.loader_dp != dp || state.loader_micro_batch != micro) {
      int64_t consumed = state.cursor.position * state.loader_micro_batch * state.loader_dp;
      state.cursor.position = std::min(consumed / (micro * dp), train_loader->batches_per_epoch());
    }
    train_loader->seek(state.cursor);
    state.loader_dp = dp;
    state.loader_micro_batch = micro;
    state.config_yaml = config_yaml;
    log->info("resumed from " + path + " at step " + std::to_string(state.step));
  }
}

// The run directory suits the run: a fresh run finds no earlier run's checkpoints there (they
// would mix); --resume finds a readable checkpoint of the same model (every model.* key equal).
// Reads only, so a refused run changes nothing.
void Trainer::Impl::check_run_dir() {
  if (opts.resume_auto) {  // rank 0 looks, every rank follows
    std::string found = root() ? (step_checkpoints(cfg.run_dir).empty() ? "0" : "1") : "";
    if (grid.world_size() > 1) found = broadcast_text(grid.world(), found, 0);
    opts.resume = found == "1";
    opts.resume_auto = false;
    auto_note = "--resume auto: " + (opts.resume ? cfg.run_dir + " holds step checkpoints: resuming"
                                                 : "no step checkpoint in " + checkpoint_dir(cfg.run_dir) +
                                                       ": starting fresh");
  }
  if (opts.resume) {
    // Rank 0 chooses and every rank follows, so that all resume from the same file even where
    // a rank's reads would differ (a passing I/O error on one node).
    std::string decision;  // "PATH\nSTEP\nNOTE..." or "!message"
    auto choose = [&] {
      auto ckpts = step_checkpoints(cfg.run_dir);
      ST_CHECK(!ckpts.empty(), "--resume ", cfg.run_dir, ": no checkpoint in ", checkpoint_dir(cfg.run_dir));
      // The newest checkpoint that verifies (every dataset against its checksum, finite values);
      // each newer one skipped is said, with why.
      std::string chosen, notes, reasons;
      for (auto it = ckpts.rbegin(); it != ckpts.rend() && chosen.empty(); ++it) {
        std::string why = verify_checkpoint(*it);
        if (why.empty()) {
          chosen = *it;
        } else {
          notes += "\nresume: skipping " + *it + ": " + why;
          reasons += "\n  " + why;
        }
      }
      ST_CHECK(!chosen.empty(), "--resume ", cfg.run_dir, ": no checkpoint verifies:", reasons);
      CheckpointState saved = load_checkpoint(chosen, nullptr, nullptr);
      TrainConfig old = train_config_from_yaml(saved.config_yaml, chosen + " (stored config)");
      notes += as_error<ConfigError>([&] { return config_changes(old, saved.step, chosen); });
      decision = chosen + "\n" + std::to_string(saved.step) + notes;
    };
    if (grid.world_size() == 1) {
      choose();  // its errors as they are
    } else {
      if (root()) {
        try {
          choose();
        } catch (const std::exception& e) {
          decision = "!" + std::to_string(exit_code_of(e)) + "\n" + e.what();
        }
      }
      decision = broadcast_text(grid.world(), decision, 0);
      if (!decision.empty() && decision[0] == '!') {
        size_t eol = decision.find('\n');
        throw CollectiveError(decision.substr(eol + 1), std::stoi(decision.substr(1, eol - 1)));
      }
    }
    std::istringstream lines(decision);
    std::string step;
    std::getline(lines, resume_from);
    std::getline(lines, step);
    resume_step = std::stoll(step);
    resume_notes.clear();
    for (std::string note; std::getline(lines, note);)
      if (!note.empty()) resume_notes.push_back(note);
    return;
  }
  auto earlier = step_checkpoints(cfg.run_dir);
  bool best = fs::exists(best_checkpoint_path(cfg.run_dir));
  if (earlier.empty() && !best) return;
  std::string refusal = "run_dir: '" + cfg.run_dir + "' holds checkpoints of an earlier run (" +
                        (earlier.empty() ? best_checkpoint_path(cfg.run_dir) : earlier.back()) +
                        "); continue it with --resume " + cfg.run_dir + ", or choose another run_dir (or delete it)";
  // A dry run plans all the same, and says what the run itself would do.
  if (opts.dry_run) {
    dry_run_notes.push_back("note: without --dry-run this run would be refused: " + refusal);
    return;
  }
  ST_THROW(refusal);
}

// The keys in which this run's config differs from `old`, the config stored in the checkpoint of
// step `step` it resumes from: an error listing them unless each is free on resume
// (free_on_resume) or allowed (--allow-change); otherwise one note per change ("\nresume: ..."),
// saying what a changed schedule does to the learning rate from here on.
std::string Trainer::Impl::config_changes(const TrainConfig& old, int64_t step, const std::string& from) const {
  std::string refused, notes;
  bool schedule_changed = false;
  for (const std::string& key : config_keys()) {
    std::string before = config_value(old, key), now = config_value(cfg, key);
    if (before == now) continue;
    bool allowed = std::find(opts.allow_change.begin(), opts.allow_change.end(), key) != opts.allow_change.end();
    if (!allowed && !free_on_resume(key)) {
      refused += "\n  " + key + ": " + before + " in the checkpoint, " + now + " now";
      continue;
    }
    notes += "\nresume: " + key + " changed from " + before + " to " + now + (allowed ? " (--allow-change)" : "");
    if (key == "train.steps" || key.rfind("optimizer.", 0) == 0) schedule_changed = true;
  }
  ST_CHECK(refused.empty(), "--resume: the config differs from the one the run was started with (", from,
           "):", refused, "\nresume with the stored config, or allow each change with --allow-change KEY");
  if (schedule_changed) {
    LrSchedule before{parse_schedule(old.optim.schedule), old.optim.lr, old.optim.warmup, old.train.steps,
                      old.optim.min_lr_ratio};
    notes += "\nresume: the learning rate of step " + std::to_string(step + 1) + " is " +
             fmt("%.3e", schedule.at(step + 1)) + " (" + fmt("%.3e", before.at(step + 1)) +
             " under the stored config); the run now ends at step " + std::to_string(cfg.train.steps);
  }
  return notes;
}

// A fresh run in a directory where an earlier run ended before its first checkpoint (killed,
// crashed): that run's logs and metrics move to RUN/earlier/<UTC time>/, so the new files hold
// this run's rows only and nothing of the earlier one is lost. Rank 0, under the lock.
void Trainer::Impl::set_aside_earlier_attempt(std::vector<std::string>* notes) const {
  static const char* const kFiles[] = {"config.yaml", "train.log", "metrics.jsonl", "results.json", "tensorboard"};
  std::vector<std::string> found;
  for (const char* name : kFiles)
    if (fs::exists(cfg.run_dir + "/" + name)) found.push_back(name);
  if (found.empty()) return;
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
  std::string dest = cfg.run_dir + "/earlier/" + stamp;
  for (int i = 2; fs::exists(dest); ++i) dest = cfg.run_dir + "/earlier/" + stamp + "-" + std::to_string(i);
  std::error_code ec;
  fs::create_directories(dest, ec);
  ST_CHECK(!ec, "run_dir: cannot create '", dest, "': ", ec.message());
  std::string moved;
  for (const std::string& name : found) {
    fs::rename(cfg.run_dir + "/" + name, dest + "/" + name, ec);
    ST_CHECK(!ec, "run_dir: cannot move '", cfg.run_dir, "/", name, "' to '", dest, "': ", ec.message());
    moved += (moved.empty() ? "" : ", ") + name;
  }
  notes->push_back("run_dir: an earlier run here ended before its first checkpoint; its files (" + moved +
                   ") moved to " + dest);
}

// On resume, metrics.jsonl continues from the checkpoint's step: rows of later steps (written
// after it, by the run that was preempted or killed) and a torn last line (a crash mid-write) are
// dropped and said, so every (split, step) appears once. Rank 0, under the lock.
void Trainer::Impl::repair_metrics(std::vector<std::string>* notes) const {
  std::string path = cfg.run_dir + "/metrics.jsonl";
  std::ifstream in(path, std::ios::binary);
  if (!in) return;
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::string kept;
  int64_t later = 0, torn = 0;
  size_t at = 0;
  while (at < text.size()) {
    size_t end = text.find('\n', at);
    std::string line = text.substr(at, end == std::string::npos ? std::string::npos : end - at);
    at = end == std::string::npos ? text.size() : end + 1;
    nlohmann::json row = nlohmann::json::parse(line, nullptr, false);
    if (end == std::string::npos || row.is_discarded() || !row.is_object() || !row.contains("step") ||
        !row["step"].is_number_integer()) {
      ++torn;
      continue;
    }
    if (row["step"].get<int64_t>() > resume_step) {
      ++later;
      continue;
    }
    kept += line + "\n";
  }
  if (later == 0 && torn == 0) return;
  write_text_atomically(path, kept);
  notes->push_back("resume: metrics.jsonl continues from step " + std::to_string(resume_step) + ": dropped " +
                   std::to_string(later) + " row(s) of later steps and " + std::to_string(torn) +
                   " torn or unreadable line(s)");
}

void Trainer::Impl::initialise_weights() {
  WeightsReport rep = load_weights(cfg.init_from, *model, false);
  ST_CHECK(!rep.loaded.empty(), "model.init_from: ", cfg.init_from,
           " holds none of this model's parameters (is it a checkpoint of another model?)");
  auto listing = [](const std::vector<std::string>& v) {
    std::string s;
    for (size_t i = 0; i < v.size() && i < 8; ++i) s += (i ? ", " : "") + v[i];
    if (v.size() > 8) s += ", ... (" + std::to_string(v.size()) + " in all)";
    return s;
  };
  log->info("initialised " + std::to_string(rep.loaded.size()) + " parameters from " + cfg.init_from +
            (rep.fresh.empty() ? "" : "; freshly initialised: " + listing(rep.fresh)) +
            (rep.unused.empty() ? "" : "; in the file but not in this model: " + listing(rep.unused)));
}

void Trainer::Impl::setup_teacher() {
  ST_CHECK(!cfg.distill.teacher.empty(), "distill.teacher: model.task embedding learns a teacher's embeddings; "
           "give the teacher checkpoint (e.g. the output of st-import)");
  ST_CHECK(grid.sp_size() == 1, "model.task: embedding does not support sequence parallelism (distributed.sp is ",
           grid.sp_size(), ")");
  teacher = load_model(cfg.distill.teacher);
  const ModelConfig& tc = teacher->config();
  ST_CHECK(tc.task == TaskKind::Embedding, "distill.teacher: ", cfg.distill.teacher, " is a ", name_of(tc.task),
           " model; the teacher must be an embedding model (model.task: embedding)");
  ST_CHECK(tc.vocab_size == cfg.model.vocab_size && tc.d_model == cfg.model.d_model, "distill.teacher: ",
           cfg.distill.teacher, " has vocab_size ", tc.vocab_size, " and d_model ", tc.d_model,
           "; the model has ", cfg.model.vocab_size, " and ", cfg.model.d_model, " (they must agree)");
  ST_CHECK(tc.max_len >= seq_len, "distill.teacher: ", cfg.distill.teacher, " has max_len ", tc.max_len,
           ", shorter than the data's sequences (", seq_len, ")");
  log->info(std::string("teacher: ") + cfg.distill.teacher + ", " + name_of(tc.attention) + " attention, " +
            std::to_string(teacher->parameter_count()) + " parameters");
}

Tensor Trainer::Impl::targets_for(const Batch& b) const {
  // b is the host batch; the targets are returned on `device`.
  if (embedding()) {
    NoGradGuard ng;
    return teacher->forward(on_device(b.inputs), Tensor(), RunContext{}).detach();
  }
  if (cfg.model.task != TaskKind::LanguageModel) return on_device(b.labels);
  // Next-token targets; the last column's target is the first token of the next SP rank.
  Tensor t = SimpleTronModel::next_token_targets(b.inputs);
  if (grid.sp_size() > 1) {
    int r = grid.sp_rank(), P = grid.sp_size();
    Tensor first = b.inputs.narrow(1, 0, 1).contiguous();
    Tensor next = Tensor::zeros(first.shape(), DType::I32);
    if (r > 0) grid.sp().send(first, r - 1, 7);
    if (r + 1 < P) grid.sp().recv(next, r + 1, 7);
    int64_t N = t.size(1);
    t = N > 1 ? concat({b.inputs.narrow(1, 1, N - 1), next}, 1) : next;  // host tensors: nothing is read back
  }
  return on_device(t);
}

std::pair<double, double> Trainer::Impl::evaluate(Loader& loader, double* loss_out, bool* interrupted) {
  NoGradGuard ng;
  model->eval();
  loader.seek({0, 0});
  Tensor sums;  // (4) f64 on the device: loss sum, counted, metric sum, metric count
  Batch b;
  for (;;) {
    std::string failure;  // this rank's loader could not read (a file gone, renamed, damaged)
    bool more = false;
    try {
      more = loader.next(b);
    } catch (const Error& e) {
      if (interrupted == nullptr) throw;
      failure = e.what();
    }
    if (interrupted != nullptr) {
      // A signal, or a read that failed on any rank, ends the evaluation at once on every rank
      // together (every rank yields the same number of batches, so all of them are here).
      Tensor flag = Tensor::from_vector<int32_t>({preemption_requested() ? 1 : 0, failure.empty() ? 0 : 1}, {2});
      grid.world().all_reduce_sum(flag);
      std::vector<int32_t> raised = host_values<int32_t>(flag);
      if (raised[1] > 0) {  // the lowest failing rank's message, for every rank
        std::vector<int32_t> failed(static_cast<size_t>(grid.world_size()), 0);
        failed[static_cast<size_t>(grid.world_rank())] = failure.empty() ? 0 : 1;
        Tensor who = Tensor::from_vector<int32_t>(failed, {grid.world_size()});
        grid.world().all_reduce_sum(who);
        failed = host_values<int32_t>(who);
        int root = static_cast<int>(std::find(failed.begin(), failed.end(), 1) - failed.begin());
        model->train();
        throw EvaluationFailed(broadcast_text(grid.world(), failure, root));
      }
      if (raised[0] > 0) {
        *interrupted = true;
        model->train();
        return {0, 0};
      }
    }
    if (!more) break;
    if (embedding()) {  // only the batch's real rows: a row of padding has no embedding
      if (b.valid == 0) continue;
      b.inputs = b.inputs.narrow(0, 0, b.valid).contiguous();
    }
    RunContext ctx = context(0);
    set_padding(b, ctx);
    ModelOutput out = model->run(on_device(b.inputs), on_device(b.inputs2), ctx);
    Tensor targets = targets_for(b);
    if (out.has_output()) {
      Tensor counted, hits;
      Tensor loss = model->loss_sum(out, targets, &counted, embedding() ? nullptr : &hits).to(DType::F64).reshape({1});
      if (hits.defined()) hits = concat({hits.reshape({1}), counted.reshape({1})}, 0);
      Tensor batch = concat({loss, counted.reshape({1}), metric_counts(out, targets, hits)}, 0);
      sums = sums.defined() ? add(sums, batch) : batch;
    }
  }
  // One read for the whole evaluation: (4) f64 summed over the world (on the device).
  if (!sums.defined()) sums = on_device(Tensor::zeros({4}, DType::F64));
  grad_comm->all_reduce_sum(sums);
  auto v = sums.to_vector<double>();
  model->train();
  *loss_out = v[1] > 0 ? v[0] / v[1] : 0;
  return {v[3] > 0 ? v[2] / v[3] : 0, v[3]};
}

void Trainer::Impl::save(const std::string& path) {
  state.cursor = train_loader->cursor();
  // Sharded moments are gathered onto rank 0 a bucket at a time as it writes them; every rank runs
  // the gathers to the end, rank 0 too when its write fails, so that none waits for it in vain.
  std::unique_ptr<MomentStream> moments = sharded ? sharded->moment_stream() : stream_of(optimizer->state());
  if (root()) {
    try {
      save_checkpoint(path, *model, *moments, state);
    } catch (...) {
      if (sharded) skip_rest(*moments);
      throw;
    }
  } else if (sharded) {
    skip_rest(*moments);
  }
  grid.world().barrier();
}

std::string Trainer::Impl::headline() const {
  std::ostringstream head;
  head << "st-train: " << name_of(cfg.model.task) << ", " << name_of(cfg.model.attention) << " attention, "
       << model->parameter_count() << " parameters; " << grid.world_size() << " process(es): dp " << grid.dp_size()
       << " x sp " << grid.sp_size() << "; batch " << cfg.data.batch_size << " = dp x micro_batch " << micro << " x "
       << accum << " accumulation; " << cfg.train.steps << " steps; run dir " << cfg.run_dir;
  return head.str();
}

// The activations of one micro-batch (core/nn/memory_estimate.h), assuming padding at the end of
// each sequence, as every generator and converter writes it. The softmax attention's path is the
// one the model will take: fused where cuDNN's attention can run, with the dP workspace of a
// deterministic backward where cuDNN needs one.
double Trainer::Impl::activation_bytes() const {
  int64_t positions = seq_len + (cfg.model.uses_cls() ? 1 : 0);
  SoftmaxMemoryPath path;
  if (cfg.model.attention == AttentionKind::Softmax) {
    PrecisionScope scope(precision);
    path.fused = fused_softmax_attention_problem(DType::F32, device, cfg.model.head_dim()).empty();
    if (path.fused)
      path.dp_workspace_bytes = static_cast<double>(fused_attention_dp_workspace_bytes(
          micro, cfg.model.heads, positions, positions, cfg.train.deterministic, device.index));
  }
  return estimate_activations(cfg.model, micro, positions, grid.sp_size(), path, cfg.train.recompute).total();
}

// Refuses, before anything is allocated, a model whose weights, gradients, AdamW moments and
// activations would not fit the memory a process may use (train.memory_limit, else the machine's
// memory on the CPU or the device's on a GPU).
void Trainer::Impl::check_memory() const {
  double gib = 1024.0 * 1024.0 * 1024.0;
  double limit = cfg.train.memory_limit * gib;
  std::string source = "train.memory_limit";
  if (limit <= 0 && device.is_cuda()) {
    limit = static_cast<double>(cuda_device_memory(device.index));
    source = device.str() + "'s memory";
  } else if (limit <= 0) {
    long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0) limit = static_cast<double>(pages) * static_cast<double>(page);
    source = "this machine's memory";
  }
  if (limit <= 0) return;  // unknown: nothing to check against
  double per_param = 8 + moment_bytes_per_parameter();
  double weights = static_cast<double>(cfg.model.parameter_count()) * per_param, act = activation_bytes();
  ST_CHECK(weights + act <= limit, "model: about ", fmt("%.1f", (weights + act) / gib), " GiB per process (",
           cfg.model.parameter_count(), " parameters x ", fmt("%.3g", per_param),
           " bytes for weights, gradients and AdamW moments, plus about ",
           fmt("%.1f", act / gib), " GiB of activations per micro-batch) exceed ", source, " (",
           fmt("%.1f", limit / gib), " GiB); make the model or data.micro_batch smaller, or set train.memory_limit");
}

void Trainer::Impl::print_dry_run(const std::string& headline) const {
  // Parameters and their gradients, the AdamW moments, and the activations saved for backward.
  int64_t params = model->parameter_count();
  double act = activation_bytes();
  double weights = static_cast<double>(params) * 8, moments = static_cast<double>(params) * moment_bytes_per_parameter();
  std::string sharding = cfg.dist.zero == 1 ? " (sharded over " + std::to_string(grid.world_size()) +
                                                  " process(es), distributed.zero 1)"
                                            : "";
  double tokens = static_cast<double>(cfg.data.batch_size) * static_cast<double>(seq_len) *
                  (cfg.model.task == TaskKind::Retrieval ? 2.0 : 1.0);
  double flops = flops_per_step();
  std::printf("%s\n", headline.c_str());
  if (without_data)
    std::printf("no training data (data.train '%s' matches no file): sizes from the config\n", cfg.data.train.c_str());
  std::printf("--- resolved config ---\n%s--- estimate ---\n"
              "parameters: %lld\n"
              "tokens per step: %.0f positions (batch %lld x seq_len %lld%s; padding included)\n"
              "training FLOPs per step: %.3g (nominal: 2 per multiply-add of the matrix products, the backward twice the forward; core/nn/flops.h)\n"
              "memory per process: weights and gradients %.1f MB, AdamW moments %.1f MB%s, activations per "
              "micro-batch about %.1f MB\n"
              "layout: %d process(es) = dp %d x sp %d; each SP rank holds %lld of %lld tokens\n",
              config_yaml.c_str(), static_cast<long long>(params), tokens,
              static_cast<long long>(cfg.data.batch_size), static_cast<long long>(seq_len),
              cfg.model.task == TaskKind::Retrieval ? " x 2 documents" : "", flops, weights / 1e6, moments / 1e6,
              sharding.c_str(), act / 1e6, grid.world_size(), grid.dp_size(), grid.sp_size(),
              static_cast<long long>(grid.column_count(seq_len)), static_cast<long long>(seq_len));
  for (const std::string& line : threads.lines) std::printf("%s\n", line.c_str());
  for (const std::string& warning : threads.warnings) std::printf("%s\n", warning.c_str());
  for (const std::string& note : dry_run_notes) std::printf("%s\n", note.c_str());
}

// Zeroes the gradients and runs the `accum` micro-batches forward and backward (the gradient
// sync hooks communicate during the last one), then clips; the update is not applied yet.
Trainer::Impl::StepResult Trainer::Impl::train_step(int64_t step) {
  StepResult r;
  r.started = Clock::now();
  // (3) f64 on the device, summed over the micro-batches: mean loss, metric sum, metric count.
  Tensor sums;
  int64_t tokens = 0;  // real tokens on this rank
  model->zero_grad();
  StepTrace* t = trace.covers(step) ? &trace : nullptr;
  double data_seconds = 0;  // the loader measures its wait itself (r.wait)
  for (int64_t k = 0; k < accum; ++k) {
    Batch b;
    {
      StepPhase data("data", step, &data_seconds, t);
      as_error<DataError>([&] { train_loader->next(b); });
    }
    r.wait += b.wait_seconds;
    StepPhase forward("forward", step, &r.forward, t);
    RunContext ctx = context(static_cast<uint32_t>((step - 1) * accum + k));
    tokens += set_padding(b, ctx);
    ModelOutput out = model->run(on_device(b.inputs), on_device(b.inputs2), ctx);
    Tensor targets = targets_for(b);
    ParallelLoss pl = parallel_loss(*model, out, targets, grid, *grad_comm);
    Tensor metric = metric_counts(out, targets, pl.local_hits);
    Tensor micro_sums = concat({pl.mean.reshape({1}), metric}, 0);
    sums = sums.defined() ? add(sums, micro_sums) : micro_sums;
    forward.end();
    StepPhase backward("backward", step, &r.backward, t);
    sync->begin_backward(k + 1 == accum);
    scale(pl.root, 1.0 / static_cast<double>(accum)).backward();
  }
  StepPhase sync_phase("sync", step, &r.sync, t);
  sync->finish();
  // The metric and the real tokens over the world (the loss is already global), then the step's
  // one read: loss, metric, tokens and the gradients' sum of squares (their norm decides the
  // clipping, done here on the host's word, and whether the step is finite).
  Tensor counts =
      concat({sums.narrow(0, 1, 2), on_device(Tensor::from_vector<double>({static_cast<double>(tokens)}, {1}))}, 0);
  grad_comm->all_reduce_sum(counts);  // (3) on the device
  Tensor squares = (sharded ? sharded->grad_sum_of_squares() : grad_sum_of_squares(model->parameters()))
                       .to(device)
                       .reshape({1});
  std::vector<double> v = concat({sums.narrow(0, 0, 1), counts, squares}, 0).to_vector<double>();
  r.loss = v[0] / static_cast<double>(accum);
  r.metric_sum = v[1];
  r.metric_count = v[2];
  r.accuracy = v[2] > 0 ? v[1] / v[2] : 0;
  r.tokens = v[3];
  r.grad_norm = std::sqrt(v[4]);
  sync_phase.end();
  StepPhase optimizer_phase("optimizer", step, &r.optimizer, t);
  if (sharded)
    sharded->clip_grads_to(r.grad_norm, cfg.optim.clip_norm);
  else
    clip_grads_to(model->parameters(), r.grad_norm, cfg.optim.clip_norm);
  return r;
}

// A step whose loss or gradient norm is not finite. nan_policy stop: saves the last good state
// and throws; skip: drops the gradients and counts the step as skipped, up to train.max_skipped.
void Trainer::Impl::handle_non_finite(int64_t step, const StepResult& r) {
  std::string what = "step " + std::to_string(step) + ": loss " + fmt("%g", r.loss) + ", gradient norm " +
                     fmt("%g", r.grad_norm);
  if (cfg.train.nan_policy == "stop") {
    std::string path = step_checkpoint_path(cfg.run_dir, state.step);
    save(path);
    // Every rank sees the same global loss and norm, so all stop here together.
    throw CollectiveError("train.nan_policy stop: " + what + " is not finite; the last good state (step " +
                              std::to_string(state.step) + ") is saved in " + path,
                          kExitNonFinite);
  }
  ++state.skipped_steps;
  model->zero_grad();
  log->info("skipped " + what + " (not finite; " + std::to_string(state.skipped_steps) + " skipped so far)");
  if (state.skipped_steps > cfg.train.max_skipped)
    throw CollectiveError("train.max_skipped: " + std::to_string(state.skipped_steps) +
                              " steps skipped for NaN/Inf; stopping (the last checkpoint is intact)",
                          kExitNonFinite);
  state.step = step;
}

// The AdamW update at the step's learning rate; completes `r` with the step's time.

void Trainer::Impl::apply_update(int64_t step, StepResult& r) {
  {
    StepPhase phase("optimizer", step, &r.optimizer, trace.covers(step) ? &trace : nullptr);
    r.lr = schedule.at(step);
    if (sharded)
      sharded->step(r.lr);
    else
      optimizer->step(r.lr);
    state.step = step;
  }
  r.seconds = seconds_since(r.started);
}

// The progress line of every step, and the train metrics every log_every steps and at the last
// step: both show the log window so far (the steps since the last train metrics), the loss and
// gradient norm averaged over its steps, the metric over all its targets, tokens/s counting real
// tokens over the window's step time (padded positions alongside).
void Trainer::Impl::log_step(int64_t step, const StepResult& r, Progress& progress) {
  progress.add(r);
  double n = static_cast<double>(progress.steps), seconds = std::max(progress.seconds, 1e-9);
  double padded_per_step = static_cast<double>(cfg.data.batch_size) * static_cast<double>(seq_len) *
                           (train_loader->meta().pair ? 2.0 : 1.0);
  double loss = progress.loss / n, grad_norm = progress.grad_norm / n;
  double metric = progress.metric_count > 0 ? progress.metric_sum / progress.metric_count : 0;
  double tokens_per_s = progress.tokens / seconds, padded_per_s = padded_per_step * n / seconds;
  double elapsed = seconds_since(progress.started);
  double eta =
      elapsed / static_cast<double>(step - progress.first_step) * static_cast<double>(cfg.train.steps - step);
  bool log_now = step % cfg.train.log_every == 0 || step == cfg.train.steps;
  std::ostringstream line;
  line << "step " << step << "/" << cfg.train.steps << " | loss " << fmt("%.4f", loss) << " | "
       << (embedding() ? "cos " + fmt("%.4f", metric) : "acc " + fmt("%.1f%%", 100 * metric)) << " | grad norm "
       << fmt("%.3g", grad_norm) << " | lr " << fmt("%.2e", r.lr) << " | " << fmt("%.0f", tokens_per_s)
       << " tok/s (" << fmt("%.0f", padded_per_s) << " padded) | data wait "
       << fmt("%.0f%%", 100 * progress.wait / seconds) << " | ETA " << duration_text(eta);
  log->progress(line.str(), log_now);
  if (!log_now) return;
  std::map<std::string, double> values = {{"loss", loss},
                                          {metric_name(), metric},
                                          {"lr", r.lr},
                                          {"grad_norm", grad_norm},
                                          {"tokens_per_s", tokens_per_s},
                                          {"padded_tokens_per_s", padded_per_s},
                                          {"tokens", progress.tokens},
                                          {"steps", n},
                                          {"data_wait", progress.wait / seconds},
                                          {"time", elapsed},
                                          {"step_ms", 1e3 * seconds / n},
                                          {"data_ms", 1e3 * progress.wait / n},
                                          {"forward_ms", 1e3 * progress.forward / n},
                                          {"backward_ms", 1e3 * progress.backward / n},
                                          {"sync_ms", 1e3 * progress.sync / n},
                                          {"optimizer_ms", 1e3 * progress.optimizer / n},
                                          {"peak_memory_gib", largest_peak_bytes() / (1024.0 * 1024.0 * 1024.0)}};
  if (peak_flops > 0) values["mfu"] = step_flops * n / seconds / peak_flops;
  add_lm_metrics(loss, values);
  log->metrics("train", step, values);
  progress.start_window();
}

// The global batch's sequences (both documents of a retrieval pair), each of seq_len tokens and
// the CLS.
double Trainer::Impl::flops_per_step() const {
  int64_t sequences = cfg.data.batch_size * (cfg.model.task == TaskKind::Retrieval ? 2 : 1);
  return training_flops(cfg.model, sequences, seq_len + (cfg.model.uses_cls() ? 1 : 0));
}

// After the last traced step (or the run's last step inside the traced range): every rank writes
// its trace.
void Trainer::Impl::trace_step_end(int64_t step) {
  if (!trace.covers(step) || !(trace.last(step) || step == cfg.train.steps)) return;
  std::string dir = cfg.run_dir + "/trace";
  std::error_code ec;
  fs::create_directories(dir, ec);
  ST_CHECK(!ec, dir, ": cannot create the trace directory: ", ec.message());
  trace.write(dir + "/rank-" + std::to_string(grid.world_rank()) + ".json");
  log->info("step " + std::to_string(step) + ": trace of steps " + std::to_string(cfg.train.trace_first) + "-" +
            std::to_string(step) + " in " + dir + "/rank-*.json (open in ui.perfetto.dev)");
}

double Trainer::Impl::largest_peak_bytes() {
  std::vector<double> peaks(static_cast<size_t>(grid.world_size()), 0.0);
  peaks[static_cast<size_t>(grid.world_rank())] = static_cast<double>(memory_stats(device).peak_bytes);
  if (grid.world_size() > 1) {
    Tensor t = Tensor::from_vector(peaks, {grid.world_size()});
    grid.world().all_reduce_sum(t);
    peaks = t.to_vector<double>();
  }
  return *std::max_element(peaks.begin(), peaks.end());
}

// The peak of matrix products on the CPU, measured with the run's threads on every process at
// once (they share the machine as they will in training): the best of three 1024^3 products
// each, summed over the processes. A collective.
void Trainer::Impl::measure_peak_flops() {
  double configured = cfg.train.peak_tflops * 1e12;
  if (configured > 0) {
    peak_flops = configured * grid.world_size();
    return;
  }
  if (!device.is_cpu()) return;
  constexpr int64_t kSide = 1024;
  Tensor a = Tensor::randn({kSide, kSide}, 1), b = Tensor::randn({kSide, kSide}, 2);
  double best = 1e30;
  for (int rep = 0; rep < 3; ++rep) {
    auto t0 = Clock::now();
    Tensor c = matmul(a, b);
    best = std::min(best, seconds_since(t0));
  }
  std::vector<double> mine = {2.0 * kSide * kSide * kSide / best};
  Tensor t = Tensor::from_vector(mine, {1});
  if (grid.world_size() > 1) grid.world().all_reduce_sum(t);
  peak_flops = t.to_vector<double>()[0];
}

void Trainer::Impl::add_lm_metrics(double loss, std::map<std::string, double>& values) const {
  if (cfg.model.task != TaskKind::LanguageModel) return;
  values["perplexity"] = std::exp(loss);
  if (byte_tokens) values["bits_per_byte"] = loss / std::log(2.0);
}

// Validation every eval_every steps and at the last step; the best checkpoint follows the best
// validation metric (-loss for a language model).
void Trainer::Impl::evaluate_and_keep_best(int64_t step) {
  bool eval_now = cfg.train.eval_every > 0 && step % cfg.train.eval_every == 0;
  if (!val_loader || !(eval_now || step == cfg.train.steps)) return;
  double vloss = 0;
  bool interrupted = false;
  double vacc = 0, vcount = 0;
  try {
    std::tie(vacc, vcount) = evaluate(*val_loader, &vloss, &interrupted);
  } catch (const EvaluationFailed& e) {
    // The validation data could not be read (renamed, deleted, damaged since the start): keep the
    // training done so far in a step checkpoint, then stop with the reason, on every rank.
    log->info("step " + std::to_string(step) + ": validation failed; saving a checkpoint of this step first");
    save(step_checkpoint_path(cfg.run_dir, step));
    throw CollectiveError(std::string("validation at step ") + std::to_string(step) + " failed: " + e.what() +
                              " (the run is saved at this step; --resume continues it once the data is back)",
                          kExitData);
  }
  if (interrupted) {  // checkpoint_or_preempt saves and stops next
    log->info("step " + std::to_string(step) + ": validation interrupted by a signal; not counted");
    return;
  }
  double metric = cfg.model.task == TaskKind::LanguageModel ? -vloss : vacc;
  std::map<std::string, double> values = {{"loss", vloss}, {metric_name(), vacc}};
  add_lm_metrics(vloss, values);
  log->metrics("val", step, values);
  log->info("step " + std::to_string(step) + ": validation loss " + fmt("%.4f", vloss) + ", " + metric_name() + " " +
            metric_text(vacc) + " over " + fmt("%.0f", vcount) + " targets");
  if (metric > state.best_metric) {
    state.best_metric = metric;
    state.best_step = step;
    save(best_checkpoint_path(cfg.run_dir));
  }
}

// The step checkpoint every checkpoint_every steps, at the last step, and on preemption (every
// rank agrees at the step boundary). Returns true when the run stops here, preempted.
bool Trainer::Impl::checkpoint_or_preempt(int64_t step) {
  bool ckpt_now = cfg.train.checkpoint_every > 0 && step % cfg.train.checkpoint_every == 0;
  // Every rank learns of a preemption signal and of a lost run_dir lock (file mechanism: this
  // job stalled past lock.stale_seconds and another took the directory over) at once.
  Tensor flags = Tensor::from_vector<int32_t>({preemption_requested() ? 1 : 0, lock && lock->lost() ? 1 : 0}, {2});
  grid.world().all_reduce_sum(flags);
  std::vector<int32_t> raised = host_values<int32_t>(flags);
  if (raised[1] > 0)
    throw RunDirLockedError("run_dir: '" + cfg.run_dir + "' was taken over by another job at step " +
                            std::to_string(step) + " (this job's heartbeat on " + cfg.run_dir +
                            "/.lock was older than lock.stale_seconds); stopping without writing more");
  bool preempt = raised[0] > 0;
  if (ckpt_now || preempt || step == cfg.train.steps) {
    save(step_checkpoint_path(cfg.run_dir, step));
    if (root()) prune_step_checkpoints(cfg.run_dir, cfg.train.keep_checkpoints);
  }
  if (!preempt) return false;
  g_preempt.store(false);  // handled: the caller decides what comes next
  log->info("preemption signal: checkpoint saved at step " + std::to_string(step) +
            "; continue with: st-train CONFIG --resume " + cfg.run_dir);
  return true;
}

// Final evaluation of the best checkpoint (or of the final weights without validation) on the
// validation and test splits.
void Trainer::Impl::final_test(RunResult& res) {
  if (val_loader && fs::exists(best_checkpoint_path(cfg.run_dir))) {
    load_checkpoint(best_checkpoint_path(cfg.run_dir), model.get(), nullptr);
    res.best_step = state.best_step;
    res.val_accuracy = evaluate(*val_loader, &res.val_loss).first;
  } else {
    res.best_step = state.step;
  }
  if (!test_loader) return;
  auto [tacc, tcount] = evaluate(*test_loader, &res.test_loss);
  res.test_accuracy = tacc;
  std::map<std::string, double> values = {{"loss", res.test_loss}, {metric_name(), tacc}};
  add_lm_metrics(res.test_loss, values);
  log->metrics("test", state.step, values);
  log->info("test (checkpoint of step " + std::to_string(res.best_step) + "): loss " + fmt("%.4f", res.test_loss) +
            ", " + metric_name() + " " + metric_text(tacc) + " over " + fmt("%.0f", tcount) + " targets");
}

// Every rank's peak memory and optimizer bytes (docs/design.md, "Runs and checkpoints"), gathered with one sum over
// the world (each rank fills its own slots), logged and kept for results.json.
void Trainer::Impl::gather_peak_memory(RunResult& res) {
  int world = grid.world_size(), me = grid.world_rank();
  std::vector<double> slots(static_cast<size_t>(3 * world), 0.0);
  struct rusage usage {};
  if (::getrusage(RUSAGE_SELF, &usage) == 0) slots[static_cast<size_t>(me)] = 1024.0 * static_cast<double>(usage.ru_maxrss);
  slots[static_cast<size_t>(world + me)] = static_cast<double>(memory_stats(device).peak_bytes);
  slots[static_cast<size_t>(2 * world + me)] = static_cast<double>(optimizer_bytes());
  Tensor t = Tensor::from_vector(slots, {3 * world});
  grid.world().all_reduce_sum(t);
  slots = t.to_vector<double>();
  res.peak_resident.assign(slots.begin(), slots.begin() + world);
  res.peak_allocator.assign(slots.begin() + world, slots.begin() + 2 * world);
  res.optimizer_bytes.assign(slots.begin() + 2 * world, slots.end());
  auto gib_list = [](std::string& out, const std::vector<double>& bytes) {
    for (double b : bytes) {
      out += ' ';
      out += fmt("%.2f", b / (1024.0 * 1024.0 * 1024.0));
    }
  };
  std::string line = "peak memory per rank: resident";
  gib_list(line, res.peak_resident);
  line += " GiB; ";
  line += device.str();
  line += " allocator's peak in use";
  gib_list(line, res.peak_allocator);
  log->info(line + " GiB");
}

void Trainer::Impl::write_results(const RunResult& res) const {
  nlohmann::json j;
  j["steps"] = res.steps_done;
  j["best_step"] = res.best_step;
  j[std::string("val_") + metric_name()] = res.val_accuracy;
  j["val_loss"] = res.val_loss;
  j[std::string("test_") + metric_name()] = res.test_accuracy;
  j["test_loss"] = res.test_loss;
  j["skipped_steps"] = state.skipped_steps;
  j["seconds"] = res.seconds;
  j["peak_resident_bytes_per_rank"] = res.peak_resident;
  j["peak_allocator_bytes_per_rank"] = res.peak_allocator;
  j["optimizer_bytes_per_rank"] = res.optimizer_bytes;
  j["threads_per_rank"] = threads.mine.threads;  // rank 0's; train.log has every node's
  j["threads_source"] = name_of(threads.mine.source);
  j["build"] = version_text("st-train");
  j["cpu_blas"] = cpu_blas_description();
  write_text_atomically(cfg.run_dir + "/results.json", j.dump(2) + "\n");
}

RunResult Trainer::Impl::run() {
  auto started = Clock::now();
  setup();
  PrecisionScope precision_scope(precision);
  std::string head = headline();
  if (opts.dry_run) {
    if (root()) print_dry_run(head);
    return RunResult{};
  }
  log->info(head);
  log->info("build: " + version_text("st-train") + "; CPU matrix products: " + cpu_blas_description());
  log->info("training FLOPs per step (nominal): " + fmt("%.3g", step_flops) + "; mfu " +
            (peak_flops > 0 ? "against " + fmt("%.3g", peak_flops / 1e12) + " TFLOP/s for " +
                                  std::to_string(grid.world_size()) + " process(es) (" +
                                  (cfg.train.peak_tflops > 0 ? "train.peak_tflops" : "measured: 1024^3 matrix products") + ")"
                            : std::string("not reported (set train.peak_tflops)")));
  Progress progress{Clock::now(), state.step};
  trace = StepTrace(grid.world_rank(), cfg.train.trace_first, cfg.train.trace_steps, progress.started);
  int64_t first_step = state.step, reads_before = host_read_count(), staged_before = staged_read_count();
  {
    InTrainingLoop loop;  // SIGTERM / SIGINT: checkpoint at the next step boundary
    while (state.step < cfg.train.steps) {
      int64_t step = state.step + 1;
      StepResult r = train_step(step);
      if (!r.finite()) {
        handle_non_finite(step, r);
        continue;
      }
      apply_update(step, r);
      log_step(step, r, progress);
      StepTrace* t = trace.covers(step) ? &trace : nullptr;
      double unused = 0;
      {
        StepPhase phase("evaluation", step, &unused, t);
        evaluate_and_keep_best(step);
      }
      bool preempted = false;
      {
        StepPhase phase("checkpoint", step, &unused, t);
        preempted = checkpoint_or_preempt(step);
      }
      trace_step_end(step);
      if (preempted) {
        RunResult res;
        res.preempted = true;
        res.steps_done = step;
        return res;
      }
    }
  }
  // Host reads (core/tensor/host_reads.h): on a GPU each one is a stream synchronisation.
  int64_t steps_run = state.step - first_step;
  if (steps_run > 0) {
    int64_t reads = host_read_count() - reads_before, staged = staged_read_count() - staged_before;
    log->info("host reads: " + std::to_string(reads) + " in " + std::to_string(steps_run) + " steps (" +
              fmt("%.2f", static_cast<double>(reads) / static_cast<double>(steps_run)) +
              " per step, validation and checkpoints included)" +
              (staged > 0 ? "; " + std::to_string(staged) + " more to stage collectives through the host" : ""));
  }
  RunResult res;
  res.steps_done = state.step;
  final_test(res);
  res.seconds = seconds_since(started);
  gather_peak_memory(res);
  if (root()) write_results(res);
  log->flush();
  return res;
}

Trainer::Trainer(TrainConfig cfg, ProcessGrid& grid, TrainOptions options)
    : impl_(std::make_unique<Impl>(std::move(cfg), grid, options)) {}
Trainer::~Trainer() = default;
RunResult Trainer::run() { return impl_->run(); }

}  // namespace st
