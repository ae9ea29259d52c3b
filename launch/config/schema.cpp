// The config schema; see schema.h. One table lists every key once: parsing, the resolved YAML
// and the documentation all come from it.
#include "launch/config/schema.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <sstream>

#include "core/ops/precision.h"
#include "core/optim/schedule.h"
#include "core/tensor/error.h"

namespace st {

namespace {

enum class Kind { Int, Float, Bool, String, Choice };

struct Key {
  std::string path;
  Kind kind;
  std::string doc;
  std::vector<std::string> choices;  // Choice
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
  std::function<void(TrainConfig&, const std::string&)> set;  // from validated text
  std::function<std::string(const TrainConfig&)> get;
};

std::string fmt_double(double v) {
  std::ostringstream os;
  os.precision(10);
  os << v;
  return os.str();
}

// Builders for the table.
Key make_custom(std::string path, Kind kind, std::string doc, double min, double max,
                std::function<void(TrainConfig&, const std::string&)> set,
                std::function<std::string(const TrainConfig&)> get) {
  return Key{std::move(path), kind, std::move(doc), {}, min, max, std::move(set), std::move(get)};
}

Key make_int(std::string path, std::function<int64_t&(TrainConfig&)> ref, std::string doc, double min,
             double max = std::numeric_limits<double>::infinity()) {
  Key k{std::move(path), Kind::Int, std::move(doc), {}, min, max, nullptr, nullptr};
  k.set = [ref](TrainConfig& c, const std::string& v) { ref(c) = std::stoll(v); };
  k.get = [ref](const TrainConfig& c) { return std::to_string(ref(const_cast<TrainConfig&>(c))); };
  return k;
}

Key make_float(std::string path, std::function<double&(TrainConfig&)> ref, std::string doc, double min,
               double max = std::numeric_limits<double>::infinity()) {
  Key k{std::move(path), Kind::Float, std::move(doc), {}, min, max, nullptr, nullptr};
  k.set = [ref](TrainConfig& c, const std::string& v) { ref(c) = std::stod(v); };
  k.get = [ref](const TrainConfig& c) { return fmt_double(ref(const_cast<TrainConfig&>(c))); };
  return k;
}

Key make_bool(std::string path, std::function<bool&(TrainConfig&)> ref, std::string doc) {
  Key k{std::move(path), Kind::Bool, std::move(doc), {}, 0, 1, nullptr, nullptr};
  k.set = [ref](TrainConfig& c, const std::string& v) { ref(c) = v == "true"; };
  k.get = [ref](const TrainConfig& c) { return ref(const_cast<TrainConfig&>(c)) ? "true" : "false"; };
  return k;
}

Key make_string(std::string path, std::function<std::string&(TrainConfig&)> ref, std::string doc) {
  Key k{std::move(path), Kind::String, std::move(doc), {}, 0, 0, nullptr, nullptr};
  k.set = [ref](TrainConfig& c, const std::string& v) { ref(c) = v; };
  k.get = [ref](const TrainConfig& c) { return ref(const_cast<TrainConfig&>(c)); };
  return k;
}

Key make_choice(std::string path, std::vector<std::string> choices,
                std::function<void(TrainConfig&, const std::string&)> set,
                std::function<std::string(const TrainConfig&)> get, std::string doc) {
  return Key{std::move(path), Kind::Choice, std::move(doc), std::move(choices), 0, 0, std::move(set), std::move(get)};
}

const std::vector<Key>& schema() {
  static const std::vector<Key> keys = [] {
    const double inf = std::numeric_limits<double>::infinity();
    std::vector<Key> k;
    // ---- run
    k.push_back(make_string("run_dir", [](TrainConfig& c) -> std::string& { return c.run_dir; },
                            "Run directory: resolved config, logs, metrics.jsonl, TensorBoard events, checkpoints."));
    k.push_back(make_custom("seed", Kind::Int, "Seed of initialisation, data order and dropout.", 0, inf,
                            [](TrainConfig& c, const std::string& v) { c.seed = std::stoull(v); },
                            [](const TrainConfig& c) { return std::to_string(c.seed); }));
    k.push_back(make_choice("device", {"auto", "cpu", "cuda"},
                            [](TrainConfig& c, const std::string& v) { c.device = v; },
                            [](const TrainConfig& c) { return c.device; },
                            "Where to train. cuda: each process uses CUDA device local rank % visible devices (local rank from OMPI_COMM_WORLD_LOCAL_RANK, SLURM_LOCALID or MPI's node split); an error when the build has no CUDA backend or no device is visible. auto: cuda when both are there, else cpu (the log says which). On cuda, parameters and AdamW state live on the GPU, gradients are all-reduced with NCCL (MPI with host staging when ranks share a GPU), the sequence-parallel collectives (distributed.sp > 1; B x H x d_h^2 values per layer, independent of N) go through NCCL too (both MPI with host staging when ranks share a GPU), and checkpoints stay device-independent."));
    k.push_back(make_choice("precision", kPrecisionNames.names(),
                            [](TrainConfig& c, const std::string& v) { c.precision = v; },
                            [](const TrainConfig& c) { return c.precision; },
                            "Arithmetic of the matrix products. fp32: everything in fp32. bf16: every matrix product (linear layers, attention products, LM head) rounds its operands to bf16 and accumulates and writes in fp32 (bf16 tensor cores on cuda); parameters (the master weights), optimizer state, the activations computed with, attention states K^T V and their prefixes, reductions, LayerNorm and its statistics, and losses stay fp32; what the backward needs of the activations is kept in bf16 where safe (the products' operands, the GELU/ReLU inputs, LayerNorm's normalised input), about half the activation memory of fp32. On cpu, bf16 emulates the same rounding (slower than fp32; for checking a run before it goes to a GPU)."));
    k.push_back(make_int("threads", [](TrainConfig& c) -> int64_t& { return c.threads; },
                         "CPU threads (OpenMP and BLAS) of each process. 0: automatic, unless OMP_NUM_THREADS or else SLURM_CPUS_PER_TASK is set: each process takes its fair share of the CPUs it may run on (its affinity mask), shared with the other ranks of its node whose masks hold the same CPUs; at least 1. Rank 0 logs the choice per node and warns when a node's threads exceed its CPUs. Results do not depend on it.",
                         0, 65536));
    // ---- model
    k.push_back(make_choice("model.task", kTaskKindNames.names(),
                            [](TrainConfig& c, const std::string& v) { c.model.task = parse_task(v); },
                            [](const TrainConfig& c) { return std::string(name_of(c.model.task)); },
                            "Head and loss: classification, retrieval (two documents, shared encoder), lm (causal language model) or embedding (no head: the normalised pooled vector, trained against distill.teacher with loss 1 - cosine)."));
    k.push_back(make_int("model.vocab_size", [](TrainConfig& c) -> int64_t& { return c.model.vocab_size; },
                         "Token ids in [0, vocab_size), 0 = padding. 0: from the training data.", 0,
                         double(ModelConfig::kMaxVocab)));
    k.push_back(make_int("model.max_len", [](TrainConfig& c) -> int64_t& { return c.model.max_len; },
                         "Longest token sequence (the learned position table's rows; with sinusoidal positions only a bound checked against the data). 0: the training data's seq_len.", 0,
                         double(ModelConfig::kMaxLen)));
    k.push_back(make_int("model.num_classes", [](TrainConfig& c) -> int64_t& { return c.model.num_classes; },
                         "Classes (classification). 0: from the training data.", 0, double(ModelConfig::kMaxVocab)));
    k.push_back(make_int("model.d_model", [](TrainConfig& c) -> int64_t& { return c.model.d_model; }, "Width d.", 1,
                         double(ModelConfig::kMaxWidth)));
    k.push_back(make_int("model.heads", [](TrainConfig& c) -> int64_t& { return c.model.heads; }, "Attention heads H.", 1,
                         double(ModelConfig::kMaxWidth)));
    k.push_back(make_int("model.layers", [](TrainConfig& c) -> int64_t& { return c.model.layers; }, "Blocks L.", 0,
                         double(ModelConfig::kMaxLayers)));
    k.push_back(make_int("model.d_ff", [](TrainConfig& c) -> int64_t& { return c.model.d_ff; }, "FFN hidden width.", 1,
                         double(ModelConfig::kMaxHidden)));
    k.push_back(make_int("model.d_qkv", [](TrainConfig& c) -> int64_t& { return c.model.d_qkv; },
                         "Width of Q, K, V (all heads). 0: d_model.", 0, double(ModelConfig::kMaxWidth)));
    k.push_back(make_int("model.d_mlp", [](TrainConfig& c) -> int64_t& { return c.model.d_mlp; },
                         "Hidden width of the classification / retrieval head. 0: d_model.", 0,
                         double(ModelConfig::kMaxHidden)));
    k.push_back(make_choice("model.attention", kAttentionKindNames.names(),
                            [](TrainConfig& c, const std::string& v) { c.model.attention = parse_attention(v); },
                            [](const TrainConfig& c) { return std::string(name_of(c.model.attention)); },
                            "Attention kind: simpletron s*Q(K^T V); softmax (baseline); linear_elu (Katharopoulos et al.)."));
    k.push_back(make_choice("model.scale", kScaleModeNames.names(),
                            [](TrainConfig& c, const std::string& v) { c.model.scale = parse_scale(v); },
                            [](const TrainConfig& c) { return std::string(name_of(c.model.scale)); },
                            "SimpleTRON scale s from the token count n: n^-1/2, (n d_h)^-1/2, 1/n or 1."));
    k.push_back(make_bool("model.causal", [](TrainConfig& c) -> bool& { return c.model.causal; },
                          "Causal attention (language models)."));
    k.push_back(make_int("model.chunk", [](TrainConfig& c) -> int64_t& { return c.model.chunk; },
                         "Chunk size of causal SimpleTRON attention.", 1));
    k.push_back(make_bool("model.out_proj", [](TrainConfig& c) -> bool& { return c.model.out_proj; },
                          "Output projection Wo after attention (off in the SimpleTRON authors' LRA runs)."));
    k.push_back(make_choice("model.positions", kPositionKindNames.names(),
                            [](TrainConfig& c, const std::string& v) { c.model.positions = kPositionKindNames.parse(v, "model.positions"); },
                            [](const TrainConfig& c) { return std::string(kPositionKindNames.name(c.model.positions)); },
                            "Positions added to the token embeddings: a learned table of max_len x d_model parameters (embed.positions), or fixed sinusoids PE[p, 2i] = a sin(p w_i), PE[p, 2i+1] = a cos(p w_i), w_i = 10000^(-2i/d_model), a = 0.02 sqrt(2) (the root mean square of a fresh embedding), with no parameters (p is the global token position, also under sequence parallelism; needs an even d_model). Sinusoidal positions keep a long-context model's size independent of max_len."));
    k.push_back(make_choice("model.norm", kNormPlacementNames.names(),
                            [](TrainConfig& c, const std::string& v) { c.model.norm = parse_norm(v); },
                            [](const TrainConfig& c) { return std::string(name_of(c.model.norm)); },
                            "LayerNorm placement: pre-LN (default) or post-LN (BERT style, embedding LayerNorm)."));
    k.push_back(make_float("model.ln_eps", [](TrainConfig& c) -> double& { return c.model.ln_eps; }, "LayerNorm epsilon.", 1e-30));
    k.push_back(make_choice("model.activation", kFfnActivationNames.names(),
                            [](TrainConfig& c, const std::string& v) { c.model.activation = parse_activation(v); },
                            [](const TrainConfig& c) { return std::string(name_of(c.model.activation)); },
                            "FFN activation: GELU (erf), GELU (tanh approximation), ReLU or tanh."));
    k.push_back(make_choice("model.head_activation", kFfnActivationNames.names(),
                            [](TrainConfig& c, const std::string& v) { c.model.head_activation = parse_activation(v); },
                            [](const TrainConfig& c) { return std::string(name_of(c.model.head_activation)); },
                            "Activation after head.fc1 of the classification head (tanh: BERT's pooler, as imported by st-import)."));
    k.push_back(make_string("model.init_from", [](TrainConfig& c) -> std::string& { return c.init_from; },
                            "Initial weights: a checkpoint or an st-import file. Parameters found there are loaded (shapes must agree), the others (a new head, say) keep their fresh initialisation; the log lists both. Empty: random initialisation. Ignored on --resume."));
    k.push_back(make_custom("model.dropout", Kind::Float,
                            "Dropout on embeddings, residual branches and the FFN inner layer.", 0, 0.999,
                            [](TrainConfig& c, const std::string& v) { c.model.dropout = std::stof(v); },
                            [](const TrainConfig& c) { return fmt_double(c.model.dropout); }));
    k.push_back(make_custom("model.state_dropout", Kind::Float,
                            "Dropout on the d_h x d_h state S (non-causal simpletron).", 0, 0.999,
                            [](TrainConfig& c, const std::string& v) { c.model.state_dropout = std::stof(v); },
                            [](const TrainConfig& c) { return fmt_double(c.model.state_dropout); }));
    k.push_back(make_choice("model.pooling", kPoolingNames.names(),
                            [](TrainConfig& c, const std::string& v) { c.model.pooling = parse_pooling(v); },
                            [](const TrainConfig& c) { return std::string(name_of(c.model.pooling)); },
                            "Pooling for classification / retrieval / embedding: a learned CLS vector prepended to the sequence (no position of its own), the mean over non-padding tokens, or the sequence's first token as given (BERT's [CLS] token)."));
    k.push_back(make_bool("model.tie_embeddings", [](TrainConfig& c) -> bool& { return c.model.tie_embeddings; },
                          "Language model: output weights tied to the token embedding."));
    k.push_back(make_float("model.label_smoothing", [](TrainConfig& c) -> double& { return c.model.label_smoothing; },
                           "Label smoothing of the cross-entropy.", 0, 0.999));
    // ---- distillation
    k.push_back(make_string("distill.teacher", [](TrainConfig& c) -> std::string& { return c.distill.teacher; },
                            "model.task: embedding: the teacher checkpoint (e.g. from st-import, softmax attention). Its model is rebuilt from the config stored in it and run without gradients; its normalised pooled embeddings are the targets."));
    // ---- data
    k.push_back(make_string("data.train", [](TrainConfig& c) -> std::string& { return c.data.train; },
                            "Training shards (glob). Required."));
    k.push_back(make_string("data.val", [](TrainConfig& c) -> std::string& { return c.data.val; },
                            "Validation shards (glob); empty: no validation."));
    k.push_back(make_string("data.test", [](TrainConfig& c) -> std::string& { return c.data.test; },
                            "Test shards (glob); empty: no final test evaluation."));
    k.push_back(make_string("data.prepare", [](TrainConfig& c) -> std::string& { return c.data.prepare; },
                            "The command that makes this config's data (e.g. `st-data lra --out data/lra`); printed when the data is missing or does not fit, by a single run and by a suite's pre-flight check."));
    k.push_back(make_int("data.batch_size", [](TrainConfig& c) -> int64_t& { return c.data.batch_size; },
                         "Global batch: examples per optimizer step over all ranks.", 1));
    k.push_back(make_int("data.micro_batch", [](TrainConfig& c) -> int64_t& { return c.data.micro_batch; },
                         "Examples per rank per forward/backward; gradients accumulate over batch_size / (dp * micro_batch) micro-batches. 0: no accumulation.", 0));
    k.push_back(make_int("data.shuffle_buffer", [](TrainConfig& c) -> int64_t& { return c.data.shuffle_buffer; },
                         "Examples in the shuffle buffer.", 1));
    k.push_back(make_int("data.block_size", [](TrainConfig& c) -> int64_t& { return c.data.block_size; },
                         "Examples per block of the per-epoch block permutation.", 1));
    k.push_back(make_custom("data.prefetch", Kind::Int, "Batches the reader thread keeps ready.", 1, 1024,
                            [](TrainConfig& c, const std::string& v) { c.data.prefetch = std::stoi(v); },
                            [](const TrainConfig& c) { return std::to_string(c.data.prefetch); }));
    k.push_back(make_int("data.max_open_files", [](TrainConfig& c) -> int64_t& { return c.data.max_open_files; },
                         "Shard files each loader (training, validation, test) keeps open; beyond it the least recently used is closed and reopened when needed, which changes no example. The default keeps a process with all three loaders far below the common limit of 1024 open files (ulimit -n).",
                         1, 1 << 20));
    // ---- optimizer
    k.push_back(make_float("optimizer.lr", [](TrainConfig& c) -> double& { return c.optim.lr; }, "Base learning rate.", 1e-30));
    k.push_back(make_choice("optimizer.schedule", kScheduleKindNames.names(),
                            [](TrainConfig& c, const std::string& v) { c.optim.schedule = v; },
                            [](const TrainConfig& c) { return c.optim.schedule; },
                            "Linear warmup, then constant / cosine / linear decay, or inverse_sqrt: lr*min(1,t/w)/sqrt(max(t,w))."));
    k.push_back(make_int("optimizer.warmup", [](TrainConfig& c) -> int64_t& { return c.optim.warmup; }, "Warmup steps.", 0));
    k.push_back(make_float("optimizer.min_lr_ratio", [](TrainConfig& c) -> double& { return c.optim.min_lr_ratio; },
                           "Cosine / linear: final lr as a fraction of lr.", 0, 1));
    k.push_back(make_float("optimizer.weight_decay", [](TrainConfig& c) -> double& { return c.optim.weight_decay; },
                           "AdamW decoupled weight decay.", 0));
    k.push_back(make_float("optimizer.beta1", [](TrainConfig& c) -> double& { return c.optim.beta1; }, "AdamW beta1.", 0, 0.999999));
    k.push_back(make_float("optimizer.beta2", [](TrainConfig& c) -> double& { return c.optim.beta2; }, "AdamW beta2.", 0, 0.999999));
    k.push_back(make_float("optimizer.eps", [](TrainConfig& c) -> double& { return c.optim.eps; }, "AdamW epsilon.", 1e-30));
    k.push_back(make_bool("optimizer.decay_biases", [](TrainConfig& c) -> bool& { return c.optim.decay_biases; },
                          "Apply weight decay to biases."));
    k.push_back(make_bool("optimizer.decay_layernorm", [](TrainConfig& c) -> bool& { return c.optim.decay_layernorm; },
                          "Apply weight decay to LayerNorm weights."));
    k.push_back(make_bool("optimizer.decay_embeddings", [](TrainConfig& c) -> bool& { return c.optim.decay_embeddings; },
                          "Apply weight decay to token / position embeddings and the CLS vector."));
    k.push_back(make_float("optimizer.clip_norm", [](TrainConfig& c) -> double& { return c.optim.clip_norm; },
                           "Global gradient-norm clipping; 0: off.", 0));
    // ---- train loop
    k.push_back(make_int("train.steps", [](TrainConfig& c) -> int64_t& { return c.train.steps; }, "Optimizer steps.", 1));
    k.push_back(make_int("train.eval_every", [](TrainConfig& c) -> int64_t& { return c.train.eval_every; },
                         "Validate every k steps; 0: only at the end.", 0));
    k.push_back(make_int("train.log_every", [](TrainConfig& c) -> int64_t& { return c.train.log_every; },
                         "Log a metrics line every k steps.", 1));
    k.push_back(make_int("train.checkpoint_every", [](TrainConfig& c) -> int64_t& { return c.train.checkpoint_every; },
                         "Checkpoint every k steps; 0: only at the end and on preemption.", 0));
    k.push_back(make_int("train.keep_checkpoints", [](TrainConfig& c) -> int64_t& { return c.train.keep_checkpoints; },
                         "Keep the last K step checkpoints (the best is kept apart).", 1));
    k.push_back(make_choice("train.nan_policy", {"skip", "stop"},
                            [](TrainConfig& c, const std::string& v) { c.train.nan_policy = v; },
                            [](const TrainConfig& c) { return c.train.nan_policy; },
                            "A NaN/Inf loss or gradient norm: skip the step (and count it), or stop after saving the last good state."));
    k.push_back(make_int("train.max_skipped", [](TrainConfig& c) -> int64_t& { return c.train.max_skipped; },
                         "skip policy: stop after this many skipped steps.", 0));
    k.push_back(make_float("train.memory_limit", [](TrainConfig& c) -> double& { return c.train.memory_limit; },
                           "GiB of memory one process may use (on its device). Before anything is allocated (and in --dry-run), a model whose estimate (16 bytes per parameter for the weights, gradients and AdamW moments, plus activations per micro-batch) exceeds it is refused with the estimate. 0: the machine's physical memory on the CPU (with several processes per node, set each one's share), the device's memory on a GPU.", 0));
    k.push_back(make_float("train.peak_tflops", [](TrainConfig& c) -> double& { return c.train.peak_tflops; },
                           "Peak TFLOP/s of one process, against which the train metrics' mfu (model FLOPs utilisation: nominal training FLOPs per step, core/nn/flops.h, over step time) is reported. 0: on the CPU, measured at the start (the best of three 1024^3 matrix products on every process at once, with the run's threads); on a GPU, no mfu (set it, e.g. 989 for an H100 or H200 in bf16).", 0));
    k.push_back(make_int("train.trace_steps", [](TrainConfig& c) -> int64_t& { return c.train.trace_steps; },
                         "Steps whose phases (data, forward, backward, sync, optimizer, evaluation, checkpoint) are written as a Chrome/Perfetto trace, RUN/trace/rank-R.json per rank (open in ui.perfetto.dev or chrome://tracing), from train.trace_first on. Each phase is also an NVTX range on CUDA builds (Nsight Systems), traced or not. 0: no trace file.", 0, 1e6));
    k.push_back(make_int("train.trace_first", [](TrainConfig& c) -> int64_t& { return c.train.trace_first; },
                         "The first step of the trace (step 1 warms up).", 1, 1e12));
    k.push_back(make_bool("train.deterministic", [](TrainConfig& c) -> bool& { return c.train.deterministic; },
                          "Gradients repeat bitwise from run to run. Only the fused softmax attention on a GPU (cuDNN) offers a choice: true orders its backward's dQ sums, which before cuDNN 9.25 on Hopper (and on other GPUs) takes a dP workspace of batch x heads x N^2 bf16 values while a layer's backward runs; false keeps that workspace O(N) with atomic dQ sums whose last bits vary from run to run. The CPU is always deterministic."));
    k.push_back(make_choice("train.recompute", kRecomputeNames.names(),
                            [](TrainConfig& c, const std::string& v) { c.train.recompute = kRecomputeNames.parse(v, "train.recompute"); },
                            [](const TrainConfig& c) { return std::string(kRecomputeNames.name(c.train.recompute)); },
                            "Activation recompute. none: every block keeps what its backward needs. block: a block keeps only its input (batch x positions x d_model values) and runs its forward again inside the backward: activation memory falls to about (layers + 1) inputs plus one block's activations, for about one more forward pass of time. Gradients are bitwise the same (dropout masks are recomputed exactly)."));
    // ---- distributed
    k.push_back(make_custom("distributed.sp", Kind::Int, "Sequence-parallel degree; dp = processes / sp.", 1,
                            1 << 20, [](TrainConfig& c, const std::string& v) { c.dist.sp = std::stoi(v); },
                            [](const TrainConfig& c) { return std::to_string(c.dist.sp); }));
    k.push_back(make_float("distributed.timeout_seconds", [](TrainConfig& c) -> double& { return c.dist.timeout_seconds; },
                           "A collective not done within this time aborts the job with its name and rank.", 1e-3));
    k.push_back(make_float("distributed.bucket_mb", [](TrainConfig& c) -> double& { return c.dist.bucket_mb; },
                           "Gradient all-reduce bucket size (MiB).", 1e-3));
    k.push_back(make_custom("distributed.zero", Kind::Int,
                            "Optimizer-state sharding (ZeRO stage 1). 0: every process holds the AdamW moments of every parameter (8 bytes per parameter). 1: the moments are sharded over all processes (the dp x sp world, whose ranks all hold the same parameters), so each holds 8 / processes bytes per parameter: gradient buckets are reduce-scattered instead of all-reduced, each process updates its shard of the parameters, and the updated shards are all-gathered; the same traffic as the all-reduce. The update equals the unsharded one to fp32 rounding (sums are taken in another order). Checkpoints store the full moments either way, so a run may resume with another zero, dp or sp.",
                            0, 1, [](TrainConfig& c, const std::string& v) { c.dist.zero = std::stoi(v); },
                            [](const TrainConfig& c) { return std::to_string(c.dist.zero); }));
    // ---- run directory lock
    k.push_back(make_choice("lock.mechanism", {"auto", "flock", "file"},
                            [](TrainConfig& c, const std::string& v) { c.lock.mechanism = v; },
                            [](const TrainConfig& c) { return c.lock.mechanism; },
                            "How a job owns its run_dir (RUN/.lock; a second job on the same run_dir is refused, naming the holder). flock: an exclusive flock(2), which the kernel drops when the holder ends however it ends. file: RUN/.lock itself is the lock, created atomically, touched by the holder every lock.stale_seconds / 5 (at most 30 s); it is taken over once its holder is a dead process on this host or its heartbeat is older than lock.stale_seconds, and st-train --force-unlock RUN_DIR clears it. auto: flock where the file system supports it, else file. Set file where flock is only node-local (Lustre mounted with localflock) and jobs on different nodes may share a run_dir."));
    k.push_back(make_float("lock.stale_seconds", [](TrainConfig& c) -> double& { return c.lock.stale_seconds; },
                           "lock.mechanism file: seconds without a heartbeat after which another job takes the lock over (the hosts' clocks must agree to within this).", 1e-3));
    k.push_back(make_float("lock.requeue_wait_seconds", [](TrainConfig& c) -> double& { return c.lock.requeue_wait_seconds; },
                           "A requeued Slurm job (same SLURM_JOB_ID, higher SLURM_RESTART_COUNT) whose previous run still holds the lock waits this long for it to let go, then exits as locked.", 0));
    return k;
  }();
  return keys;
}

const Key* find_key(const std::string& path) {
  for (const Key& k : schema())
    if (k.path == path) return &k;
  return nullptr;
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string closest_key(const std::string& path) {
  std::string best;
  size_t best_d = std::numeric_limits<size_t>::max();
  for (const Key& k : schema()) {
    size_t d = edit_distance(path, k.path);
    if (d < best_d) {
      best_d = d;
      best = k.path;
    }
  }
  return best;
}

bool is_section(const std::string& path) {
  for (const Key& k : schema())
    if (k.path.rfind(path + ".", 0) == 0) return true;
  return false;
}

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::Int: return "integer";
    case Kind::Float: return "number";
    case Kind::Bool: return "boolean";
    case Kind::String: return "string";
    case Kind::Choice: return "choice";
  }
  return "?";
}

// Validates `text` for key k; returns the canonical text or throws naming `where`.
std::string check_value(const Key& k, const std::string& text, const std::string& where) {
  auto fail = [&](const std::string& why) -> std::string {
    ST_THROW(where, ": ", k.path, ": ", why);
  };
  switch (k.kind) {
    case Kind::Int: {
      size_t used = 0;
      long long v = 0;
      try {
        v = std::stoll(text, &used);
      } catch (...) {
        used = 0;
      }
      if (used == 0 || used != text.size()) return fail("expected an integer, got '" + text + "'");
      if (v < k.min || v > k.max)
        return fail("value " + text + " is out of range [" + fmt_double(k.min) + ", " + fmt_double(k.max) + "]");
      return std::to_string(v);
    }
    case Kind::Float: {
      size_t used = 0;
      double v = 0;
      try {
        v = std::stod(text, &used);
      } catch (...) {
        used = 0;
      }
      if (used == 0 || used != text.size() || !std::isfinite(v))
        return fail("expected a number, got '" + text + "'");
      if (v < k.min || v > k.max)
        return fail("value " + text + " is out of range [" + fmt_double(k.min) + ", " + fmt_double(k.max) + "]");
      return text;
    }
    case Kind::Bool: {
      if (text == "true" || text == "yes" || text == "on") return "true";
      if (text == "false" || text == "no" || text == "off") return "false";
      return fail("expected true or false, got '" + text + "'");
    }
    case Kind::String: return text;
    case Kind::Choice: {
      if (std::find(k.choices.begin(), k.choices.end(), text) != k.choices.end()) return text;
      std::string all;
      for (auto& c : k.choices) all += (all.empty() ? "" : ", ") + c;
      return fail("unknown value '" + text + "' (valid: " + all + ")");
    }
  }
  return text;
}

void unknown_key(const std::string& path, const std::string& where) {
  ST_THROW(where, ": unknown key '", path, "'; did you mean '", closest_key(path), "'?");
}

void apply_node(TrainConfig& cfg, const YAML::Node& node, const std::string& prefix, const std::string& file) {
  for (auto it = node.begin(); it != node.end(); ++it) {
    // By value: the iterator's pair is a temporary proxy, gone after each statement, so a
    // reference to its members would dangle. A Node copy shares the parsed node.
    const YAML::Node key = it->first, value = it->second;
    std::string where = file + ":" + std::to_string(key.Mark().line + 1);
    if (!key.IsScalar())  // YAML allows a list or mapping as a key ("? a: 1"); no config key is one
      ST_THROW(where, ": a key must be a name, found a ", key.IsMap() ? "mapping" : key.IsSequence() ? "list" : "null",
               prefix.empty() ? std::string() : " in section '" + prefix + "'");
    std::string name = key.Scalar();
    std::string path = prefix.empty() ? name : prefix + "." + name;
    if (const Key* k = find_key(path)) {
      if (!value.IsScalar() && !value.IsNull())
        ST_THROW(where, ": ", path, ": expected ", k->kind == Kind::Int ? "an " : "a ", kind_name(k->kind), ", got a ",
                 value.IsMap() ? "mapping" : "list");
      std::string text = value.IsNull() ? "" : value.Scalar();
      if (value.IsNull() && k->kind != Kind::String) ST_THROW(where, ": ", path, ": no value given");
      k->set(cfg, check_value(*k, text, where));
    } else if (is_section(path)) {
      if (!value.IsMap()) ST_THROW(where, ": '", path, "' is a section; expected a mapping of its keys");
      apply_node(cfg, value, path, file);
    } else {
      unknown_key(path, where);
    }
  }
}

}  // namespace

std::vector<std::string> config_keys() {
  std::vector<std::string> out;
  for (const Key& k : schema()) out.push_back(k.path);
  return out;
}

std::string config_value(const TrainConfig& cfg, const std::string& key) {
  const Key* k = find_key(key);
  ST_CHECK(k, "config_value: unknown key '", key, "'");
  return k->get(cfg);
}

// The keys that may differ on --resume without --allow-change: where the run lives and how it is
// laid out, run and logged; none changes which examples are trained on or the update applied
// (data.micro_batch and distributed.* change sums' order at most; train.recompute nothing).
bool free_on_resume(const std::string& key) {
  static const std::vector<std::string> free_keys = {
      "run_dir", "device", "threads", "model.init_from", "data.prepare", "data.micro_batch", "data.prefetch", "data.max_open_files",
      "train.eval_every", "train.log_every", "train.checkpoint_every", "train.keep_checkpoints", "train.nan_policy",
      "train.max_skipped", "train.memory_limit", "train.recompute", "train.peak_tflops", "train.trace_steps",
      "train.trace_first"};
  if (key.rfind("distributed.", 0) == 0 || key.rfind("lock.", 0) == 0) return true;
  return std::find(free_keys.begin(), free_keys.end(), key) != free_keys.end();
}

void check_config_key(const std::string& key, const std::string& what) {
  if (find_key(key)) return;
  ST_THROW(what, ": unknown key '", key, "'; did you mean '", closest_key(key), "'?");
}

TrainConfig train_config_from_yaml(const std::string& yaml_text, const std::string& origin) {
  TrainConfig cfg;
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    ST_THROW(origin, ":", e.mark.line + 1, ": not valid YAML: ", e.msg);
  }
  if (root.IsNull()) return cfg;
  if (!root.IsMap()) ST_THROW(origin, ": the config must be a mapping of keys");
  apply_node(cfg, root, "", origin);
  return cfg;
}

TrainConfig load_train_config(const std::string& path, const std::vector<std::string>& overrides) {
  std::ifstream in(path);
  ST_CHECK(in.good(), path, ": cannot read the config file");
  std::stringstream ss;
  ss << in.rdbuf();
  TrainConfig cfg = train_config_from_yaml(ss.str(), path);
  for (const std::string& o : overrides) {
    std::string where = "--set " + o;
    auto eq = o.find('=');
    ST_CHECK(eq != std::string::npos && eq > 0, where, ": expected key=value");
    std::string key = o.substr(0, eq), value = o.substr(eq + 1);
    const Key* k = find_key(key);
    if (!k) unknown_key(key, where);
    std::string text = value;
    try {  // YAML scalar rules for the value (quotes, etc.)
      YAML::Node n = YAML::Load(value);
      if (n.IsScalar()) text = n.Scalar();
    } catch (const YAML::Exception&) {
    }
    k->set(cfg, check_value(*k, text, where));
  }
  return cfg;
}

std::string to_yaml(const TrainConfig& cfg) {
  std::ostringstream os;
  std::string section;
  for (const Key& k : schema()) {
    auto dot = k.path.find('.');
    std::string sec = dot == std::string::npos ? "" : k.path.substr(0, dot);
    std::string name = dot == std::string::npos ? k.path : k.path.substr(dot + 1);
    if (sec != section) {
      if (!sec.empty()) os << sec << ":\n";
      section = sec;
    }
    std::string v = k.get(cfg);
    if (k.kind == Kind::String) {
      YAML::Emitter e;
      e << YAML::DoubleQuoted << v;
      v = e.c_str();
    }
    os << (sec.empty() ? "" : "  ") << name << ": " << v << "\n";
  }
  return os.str();
}

std::string config_docs_markdown() {
  TrainConfig defaults;
  std::ostringstream os;
  os << "# Configuration keys\n\n"
        "Generated from the schema in `launch/config/schema.cpp` (`st-train --config-docs`); a test\n"
        "checks that this file is current. Every key is optional except `data.train`; an unknown key\n"
        "is an error that names the closest valid key, and a wrong type or an out-of-range value is an\n"
        "error naming the file and line. `--set key=value` overrides are checked the same way.\n\n"
        "On `--resume` the config must equal the one the run was started with, except for `run_dir`,\n"
        "`device`, `threads`, `model.init_from`, `data.prepare`, `data.micro_batch`, `data.prefetch`, `data.max_open_files`,\n"
        "`train.eval_every`, `train.log_every`, `train.checkpoint_every`, `train.keep_checkpoints`,\n"
        "`train.nan_policy`, `train.max_skipped`, `train.memory_limit`, `train.recompute` and the\n"
        "`distributed.*` and `lock.*` keys; any other change is refused, listing it, unless allowed with\n"
        "`--allow-change KEY`.\n";
  std::string section = "-";
  for (const Key& k : schema()) {
    auto dot = k.path.find('.');
    std::string sec = dot == std::string::npos ? "(top level)" : k.path.substr(0, dot);
    if (sec != section) {
      os << "\n## " << sec << "\n\n| key | type | default | meaning |\n|---|---|---|---|\n";
      section = sec;
    }
    std::string type = kind_name(k.kind);
    if (k.kind == Kind::Choice) {
      type = "";
      for (auto& c : k.choices) type += (type.empty() ? "" : " \\| ") + c;
    } else if ((k.kind == Kind::Int || k.kind == Kind::Float) && (std::isfinite(k.min) || std::isfinite(k.max))) {
      type += " in [" + (std::isfinite(k.min) ? fmt_double(k.min) : "-inf") + ", " +
              (std::isfinite(k.max) ? fmt_double(k.max) : "inf") + "]";
    }
    std::string def = k.get(defaults);
    if (def.empty()) def = "\"\"";
    os << "| `" << k.path << "` | " << type << " | `" << def << "` | " << k.doc << " |\n";
  }
  return os.str();
}

}  // namespace st
