// st-bench: training-step throughput and peak memory per attention kind and sequence length,
// on the CPU or on a CUDA device (--device), in fp32 or bf16 matrix products (--precision, see
// core/ops/precision.h). One step = forward + loss, backward, AdamW step (+ zero_grad), each
// timed separately on the host around Backend::synchronize(); tokens/s = batch * N / step time
// (median over --steps after --warmup steps). --tokens-per-step fixes batch * N (batch = T / N).
// Model: the classifier of docs/design.md, "The model" (tokens + positions (--positions) + CLS, pre-LN blocks,
// GELU-erf FFN, CLS head), dropout 0 (benchmarking: no random masks), random tokens; --padding F
// pads the last F of every sequence, so the padding masks (and, for the fused softmax attention,
// its masking by key lengths) are built and counted as in training. --recompute block runs the
// blocks under activation recompute (train.recompute; the extra forward is in bwd_ms, not in the
// nominal model FLOPs).
// --task lm benchmarks a causal language model instead (model.causal, chunk --chunk, tied
// embeddings, vocabulary --vocab, no CLS): its loss is the mean over every next-token target,
// with the head and the loss fused as st-train runs them (lm_head_cross_entropy).
// --parts adds each part's forward + backward time (core/autograd/part_times.h): embeddings,
// attention sublayers, FFNs, head and loss, and the rest (LayerNorms, residuals, the engine).
// Peak memory is the core allocator's peak over one step on the benchmarked device (the CUDA
// allocator's statistics on cuda); bytes/token is that peak minus what was in use before the
// step (parameters and AdamW moments), divided by batch * N.
// gemm_gflops: flops / time of the GEMMs the step actually ran (core/backend/cpu/gemm_stats.h);
// gemm_share: their share of the step time. model_gflops: nominal flops of the full model (every
// row of every block, backward = 2x forward) per second of step time; the model skips rows of
// its last block that the CLS head does not read, so this exceeds the executed rate.
// mfu (with --device cuda or --precision bf16, which add the columns device, precision,
// step_tflop, mfu before note): nominal model FLOPs per step / (step time * --peak-tflops).
// gemm_gflops and gemm_share are measured on the CPU only (0 on cuda).
// Shapes whose estimated memory or time exceeds the budgets are skipped, and the output says why;
// a shape that throws (e.g. out of device memory) gets status failed with the error as its note.
// Each row is written to stdout as soon as its shape is done.
//   st-bench --d 256 --layers 2 --heads 4 --batch 1 --n 256,1024,4096 --kinds simpletron,softmax
//            --steps 3 --warmup 1 [--threads N] --csv out.csv [--sgemm-peak]
//   st-bench --task lm --d 256 --layers 4 --heads 4 --n 4096,16384,65536 --kinds simpletron --parts
//   st-bench --device cuda --precision bf16 --d 1024 --heads 16 --layers 4 --tokens-per-step 65536
//            --n 1024,4096,16384,65536 --kinds simpletron,softmax --steps 5 --warmup 2
#include <cblas.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "core/autograd/part_times.h"
#include "core/backend/backend.h"
#include "core/backend/thread_policy.h"
#include "core/backend/cpu/gemm_stats.h"
#include "core/backend/fused_attention.h"
#include "core/nn/flops.h"
#include "core/nn/memory_estimate.h"
#include "core/nn/model.h"
#include "core/ops/ops.h"
#include "core/ops/precision.h"
#include "core/optim/adamw.h"
#include "launch/cli.h"
#include "bench/whole_step.h"
#include "launch/trainer.h"

namespace {

using namespace st;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

struct Options {
  int64_t d = 256, layers = 2, heads = 4, batch = 1, ff_mult = 4, vocab = 256, classes = 10;
  std::vector<int64_t> n = {256, 1024, 4096, 16384, 65536};
  std::vector<std::string> kinds = kAttentionKindNames.names();
  int steps = 3, warmup = 1, threads = 0;
  double memory_gib = 16.0, time_s = 120.0;
  std::string csv;
  bool sgemm_peak = false;
  std::string device_name = "cpu", precision_name = "fp32";
  int64_t tokens_per_step = 0;  // > 0: batch = tokens_per_step / N for each N
  double peak_tflops = 989.0;   // H100/H200 SXM dense bf16
  Device device = Device::cpu();
  Precision precision = Precision::FP32;
  bool fused_softmax = false;  // softmax attention runs cuDNN's fused kernel: no N x N in memory
  double padding = 0;          // fraction of each sequence that is padding, at its end
  bool whole_step = false;     // time st-train's whole step (bench/whole_step.h), not the model alone
  bool keep_run = false;       // --whole-step: keep the temporary run directory
  bool nondeterministic = false;  // the fused softmax backward's atomic dQ (train.deterministic false)
  std::string recompute_name = "none";  // train.recompute
  Recompute recompute = Recompute::None;
  std::string positions_name = "learned";  // model.positions
  PositionKind positions = PositionKind::Learned;
  std::string task_name = "classify";  // classify | lm
  bool lm = false;                     // --task lm: the causal language model
  int64_t chunk = 64;                  // model.chunk of the causal LM
  bool parts = false;                  // --parts: time per model part (core/autograd/part_times.h)
  // The extra columns (device, precision, step_tflop, mfu) appear off the CPU fp32 path only,
  // so the CPU output keeps its format.
  bool extended() const { return !device.is_cpu() || precision != Precision::FP32; }
};

Device resolve_device(const std::string& s) {
  if (s == "cpu") return Device::cpu();
  ST_CHECK(s == "cuda", "st-bench: --device '", s, "' is not one of cpu, cuda");
  ST_CHECK(cuda_built(), "st-bench: --device cuda, but this build has no CUDA backend (configure with "
           "-DST_CUDA=ON); use --device cpu");
  ST_CHECK(cuda_device_count() > 0, "st-bench: --device cuda, but no CUDA device is visible to this process "
           "(check nvidia-smi and CUDA_VISIBLE_DEVICES); use --device cpu");
  return Device::cuda(0);
}

// The options of one shape: batch from --tokens-per-step when given.
Options for_shape(const Options& o, int64_t n) {
  Options s = o;
  if (o.tokens_per_step > 0) {
    ST_CHECK(o.tokens_per_step % n == 0 && o.tokens_per_step >= n, "st-bench: --tokens-per-step ",
             o.tokens_per_step, " is not a positive multiple of N = ", n);
    s.batch = o.tokens_per_step / n;
  }
  return s;
}

ModelConfig config_for(const Options& o, AttentionKind kind, int64_t n) {
  ModelConfig c;
  c.vocab_size = o.vocab;
  c.max_len = n;
  c.num_classes = o.classes;
  c.d_model = o.d;
  c.heads = o.heads;
  c.layers = o.layers;
  c.d_ff = o.ff_mult * o.d;
  c.attention = kind;
  c.dropout = 0.0f;
  c.positions = o.positions;
  if (o.lm) {
    c.task = TaskKind::LanguageModel;
    c.causal = true;
    c.chunk = o.chunk;
    c.tie_embeddings = true;
  }
  return c;
}

// Training FLOPs of one step (core/nn/flops.h: forward 2 per multiply-add, backward twice the
// forward) over batch sequences of n tokens and the CLS (the classifier) or of n tokens (the LM).
// Positions per sequence: the n tokens, and the CLS for the classifier.
int64_t positions(const Options& o, int64_t n) { return o.lm ? n : n + 1; }

double step_flops(const Options& o, AttentionKind kind, int64_t n) {
  return training_flops(config_for(o, kind, n), o.batch, positions(o, n));
}

// Peak-memory estimate (bytes) before running: parameters x 4 (value, grad, m, v) and the
// activations of one step as st-train estimates them (core/nn/memory_estimate.h): for softmax,
// the N x N probabilities per layer unfused; O(N) fused (padding, if any, is at the ends of the
// sequences), plus the deterministic backward's dP workspace where cuDNN takes one.
double estimate_bytes(const Options& o, AttentionKind kind, int64_t n, int64_t params) {
  ModelConfig cfg = config_for(o, kind, n);
  SoftmaxMemoryPath path;
  path.fused = kind == AttentionKind::Softmax && o.fused_softmax;
  if (path.fused)
    path.dp_workspace_bytes = static_cast<double>(fused_attention_dp_workspace_bytes(
        o.batch, o.heads, positions(o, n), positions(o, n), !o.nondeterministic, o.device.index));
  return 4.0 * 4.0 * double(params) + estimate_activations(cfg, o.batch, positions(o, n), 1, path, o.recompute).total();
}

struct Row {
  std::string kind, status = "ok", note;
  int64_t n = 0, params = 0, batch = 0;
  double tokens_per_s = 0, fwd_ms = 0, bwd_ms = 0, opt_ms = 0, step_ms = 0;
  int64_t peak_bytes = 0;
  double bytes_per_token = 0, gemm_gflops = 0, gemm_share = 0, model_gflops = 0, mfu = 0;
  PartTimes parts;  // --parts: medians per part (ms), forward and backward
};

// The median over steps of each part's forward and backward time, in ms.
PartTimes median_parts(const std::vector<PartTimes>& steps) {
  PartTimes m;
  for (int p = 0; p < kModelParts; ++p) {
    std::vector<double> f, b;
    for (const PartTimes& t : steps) {
      f.push_back(1e3 * t.forward[static_cast<size_t>(p)]);
      b.push_back(1e3 * t.backward[static_cast<size_t>(p)]);
    }
    m.forward[static_cast<size_t>(p)] = steps.empty() ? 0 : median(f);
    m.backward[static_cast<size_t>(p)] = steps.empty() ? 0 : median(b);
  }
  return m;
}

Row run_shape(const Options& o, AttentionKind kind, int64_t n) {
  Row r;
  r.kind = name_of(kind);
  r.n = n;
  r.batch = o.batch;
  ModelConfig cfg = config_for(o, kind, n);
  SimpleTronModel model(cfg);
  r.params = model.parameter_count();
  model.to(o.device);  // before the optimizer, so its moments live on the same device
  AdamW opt(model.named_parameters(), AdamWConfig{.weight_decay = 0.01});
  std::vector<int32_t> id_values = Tensor::uniform({o.batch, n}, 7, 1, double(o.vocab), DType::I32).to_vector<int32_t>();
  int64_t padded = static_cast<int64_t>(o.padding * double(n));  // the last `padded` ids of each row
  for (int64_t b = 0; b < o.batch; ++b)
    for (int64_t j = n - padded; j < n; ++j) id_values[static_cast<size_t>(b * n + j)] = 0;
  Tensor ids = Tensor::from_vector(id_values, {o.batch, n}).to(o.device);
  Tensor labels = o.lm ? SimpleTronModel::next_token_targets(ids)
                       : Tensor::uniform({o.batch}, 8, 0, double(o.classes), DType::I32).to(o.device);
  Backend& be = backend_for(o.device);
  PrecisionScope precision(o.precision);
  std::vector<double> fwd, bwd, op, total, gflops, share;
  std::vector<PartTimes> parts;
  int64_t peak = 0;
  double peak_act = 0;
  for (int s = 0; s < o.warmup + o.steps; ++s) {
    bool measured = s >= o.warmup;
    be.synchronize();
    int64_t before = memory_stats(o.device).bytes_in_use;
    reset_peak_memory(o.device);
    cpu::gemm_stats_reset();
    cpu::gemm_stats_enable(measured);
    RunContext ctx{.seed = 1, .step = static_cast<uint32_t>(s + 1)};
    ctx.may_pad = padded > 0;
    ctx.padding_at_end = true;
    ctx.deterministic = !o.nondeterministic;
    ctx.recompute = o.recompute;
    reset_part_times();
    set_part_timing(o.parts && measured);
    auto t0 = Clock::now();
    Tensor loss;
    if (o.lm) {  // the mean over counted next-token targets, the head and loss fused (as st-train)
      Tensor counted;
      loss = model.loss_sum(model.run(ids, Tensor(), ctx), labels, &counted);
      loss = div(loss, counted.to(loss.dtype()));
    } else {
      loss = model.loss(model.forward(ids, Tensor(), ctx), labels);
    }
    be.synchronize();  // host timing: a phase ends when its device work has finished
    double tf = seconds_since(t0);
    auto t1 = Clock::now();
    loss.backward();
    be.synchronize();
    double tb = seconds_since(t1);
    if (measured && o.parts) {  // forward and backward only
      parts.push_back(part_times());
      std::string line = "    parts, forward/backward ms:";
      for (int p = 0; p < kModelParts; ++p) {
        char buf[96];
        std::snprintf(buf, sizeof buf, " %s %.1f/%.1f", model_part_name(static_cast<ModelPart>(p)),
                      1e3 * parts.back().forward[static_cast<size_t>(p)], 1e3 * parts.back().backward[static_cast<size_t>(p)]);
        line += buf;
      }
      std::fprintf(stderr, "%s\n", line.c_str());
    }
    set_part_timing(false);
    auto t2 = Clock::now();
    opt.step(1e-4);
    opt.zero_grad();
    be.synchronize();
    double to = seconds_since(t2);
    cpu::gemm_stats_enable(false);
    MemoryStats ms = memory_stats(o.device);
    double step_s = tf + tb + to;
    std::fprintf(stderr, "  %s N=%lld step %d/%d%s: %.3f s (fwd %.3f, bwd %.3f, opt %.3f)\n",
                 r.kind.c_str(), static_cast<long long>(n), s + 1, o.warmup + o.steps,
                 measured ? "" : " (warm-up)", step_s, tf, tb, to);
    if (!measured) {
      if (step_s * o.steps > o.time_s) {
        r.status = "skipped";
        r.note = "time: warm-up step took " + std::to_string(step_s) + " s; " +
                 std::to_string(o.steps) + " steps exceed --time-budget " + std::to_string(o.time_s) + " s";
        return r;
      }
      continue;
    }
    fwd.push_back(tf);
    bwd.push_back(tb);
    op.push_back(to);
    total.push_back(step_s);
    cpu::GemmStats gs = cpu::gemm_stats();
    gflops.push_back(gs.seconds > 0 ? gs.flops / gs.seconds / 1e9 : 0);
    share.push_back(gs.seconds / step_s);
    peak = std::max(peak, ms.peak_bytes);
    peak_act = std::max(peak_act, double(ms.peak_bytes - before));
  }
  double T = double(o.batch) * double(n);
  r.fwd_ms = 1e3 * median(fwd);
  r.bwd_ms = 1e3 * median(bwd);
  r.opt_ms = 1e3 * median(op);
  r.step_ms = 1e3 * median(total);
  r.tokens_per_s = T / (r.step_ms / 1e3);
  r.peak_bytes = peak;
  r.bytes_per_token = peak_act / T;
  r.gemm_gflops = median(gflops);
  r.gemm_share = median(share);
  r.model_gflops = step_flops(o, kind, n) / (r.step_ms / 1e3) / 1e9;
  r.mfu = r.model_gflops / (o.peak_tflops * 1e3);
  r.parts = median_parts(parts);
  return r;
}

// One shape through st-train's whole step (bench/whole_step.h): the step time is the median of
// the trainer's own per-step times; fwd/bwd/opt are not split (0); the peak includes the
// parameters and AdamW state.
Row run_whole_step_shape(const Options& o, AttentionKind kind, int64_t n) {
  WholeStepSpec spec;
  spec.model = config_for(o, kind, n);
  spec.batch = o.batch;
  spec.n = n;
  spec.warmup = o.warmup;
  spec.steps = o.steps;
  spec.device = o.device.is_cpu() ? "cpu" : "cuda";
  spec.precision = precision_name(o.precision);
  spec.threads = o.threads;
  spec.padding = o.padding;
  spec.deterministic = !o.nondeterministic;
  spec.recompute = o.recompute_name;
  spec.keep_dir = o.keep_run;
  WholeStepResult w = run_whole_step(spec);
  Row r;
  r.kind = name_of(kind);
  r.n = n;
  r.batch = o.batch;
  double T = double(o.batch) * double(n);
  r.step_ms = 1e3 * median(w.step_seconds);
  r.tokens_per_s = T / (r.step_ms / 1e3);
  r.peak_bytes = w.peak_bytes;
  r.bytes_per_token = double(w.peak_bytes) / T;
  r.model_gflops = step_flops(o, kind, n) / (r.step_ms / 1e3) / 1e9;
  r.mfu = r.model_gflops / (o.peak_tflops * 1e3);
  char note[160];
  std::snprintf(note, sizeof note, "whole st-train step; %.2f host reads per step%s", w.host_reads_per_step,
                o.keep_run ? (" (run kept in " + w.dir + ")").c_str() : "");
  r.note = note;
  return r;
}

double measure_sgemm_peak() {
  const int64_t S = 2048;
  Tensor a = Tensor::randn({S, S}, 1), b = Tensor::randn({S, S}, 2), c = Tensor::empty({S, S});
  std::vector<double> rates;
  for (int i = 0; i < 6; ++i) {
    auto t0 = Clock::now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, S, S, S, 1.0f, a.data<float>(), S,
                b.data<float>(), S, 0.0f, c.data<float>(), S);
    double s = seconds_since(t0);
    if (i > 0) rates.push_back(2.0 * S * S * S / s / 1e9);
  }
  return median(rates);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"st-bench: training-step throughput and peak memory per attention kind and N"};
  app.add_option("--d", o.d, "model width d")->capture_default_str();
  app.add_option("--layers", o.layers, "blocks")->capture_default_str();
  app.add_option("--heads", o.heads, "attention heads")->capture_default_str();
  app.add_option("--batch", o.batch, "sequences per step")->capture_default_str();
  app.add_option("--ff-mult", o.ff_mult, "d_ff = ff-mult * d")->capture_default_str();
  app.add_option("--n", o.n, "sequence lengths (comma separated)")->delimiter(',')->capture_default_str();
  app.add_option("--kinds", o.kinds, "attention kinds: " + kAttentionKindNames.joined())
      ->delimiter(',')
      ->check(CLI::IsMember(kAttentionKindNames.names()))
      ->capture_default_str();
  app.add_option("--steps", o.steps, "measured steps (median reported)")->capture_default_str();
  app.add_option("--warmup", o.warmup, "unmeasured steps first")->capture_default_str();
  app.add_option("--threads", o.threads, "CPU threads (OpenMP and BLAS); 0: automatic (the config key threads)")
      ->capture_default_str();
  app.add_option("--memory-budget", o.memory_gib, "skip shapes estimated above this (GiB)")->capture_default_str();
  app.add_option("--time-budget", o.time_s, "skip shapes whose measured steps would exceed this (s)")->capture_default_str();
  app.add_option("--csv", o.csv, "write the results as CSV to this file");
  app.add_option("--padding", o.padding,
                 "fraction of each sequence that is padding (id 0), at its end: the padding masks are built and "
                 "counted in the peak")
      ->check(CLI::Range(0.0, 0.99))
      ->capture_default_str();
  app.add_flag("--whole-step", o.whole_step,
               "time st-train's whole step (data loader, masks, metrics, its one host read, logging every step, "
               "AdamW) on a generated split, instead of the model alone: step_ms is the trainer's own step time; "
               "fwd_ms, bwd_ms and opt_ms are 0");
  app.add_flag("--keep-run", o.keep_run, "--whole-step: keep the temporary run directory (its path is in the note)");
  app.add_flag("--nondeterministic", o.nondeterministic,
               "the fused softmax attention's backward sums dQ with atomics (train.deterministic: false): O(N) "
               "workspace on every cuDNN, last bits vary from run to run");
  app.add_option("--recompute", o.recompute_name,
                 "activation recompute (train.recompute): none, or block (each block keeps only its input and "
                 "runs its forward again inside the backward; bwd_ms includes that forward)")
      ->check(CLI::IsMember(kRecomputeNames.names()))
      ->capture_default_str();
  app.add_option("--positions", o.positions_name,
                 "model.positions: learned (a max_len x d table: parameters, gradients and AdamW moments grow "
                 "with N) or sinusoidal (none)")
      ->check(CLI::IsMember(kPositionKindNames.names()))
      ->capture_default_str();
  app.add_option("--task", o.task_name,
                 "classify: the CLS classifier; lm: a causal language model (model.causal, tied "
                 "embeddings, vocabulary --vocab, loss over every next token, head and loss fused)")
      ->check(CLI::IsMember({"classify", "lm"}))
      ->capture_default_str();
  app.add_option("--vocab", o.vocab, "vocabulary size (token ids are drawn from [1, vocab))")->capture_default_str();
  app.add_option("--chunk", o.chunk, "--task lm: the causal attention's chunk (model.chunk)")->capture_default_str();
  app.add_flag("--parts", o.parts,
               "also time each part of the model, forward + backward (core/autograd/part_times.h): "
               "columns embed_ms, attention_ms, ffn_ms, head_ms (head and loss), other_ms (LayerNorms, "
               "residuals, the autograd engine), before note; with opt_ms the whole step");
  app.add_flag("--sgemm-peak", o.sgemm_peak, "also measure cblas_sgemm at 2048^3 (the GEMM peak)");
  app.add_option("--device", o.device_name, "cpu | cuda (CUDA device 0; model, batch and optimizer state there)")
      ->capture_default_str();
  app.add_option("--precision", o.precision_name,
                 "fp32 | bf16 (bf16 matrix products with f32 accumulation; everything else f32)")
      ->check(CLI::IsMember(kPrecisionNames.names()))
      ->capture_default_str();
  app.add_option("--tokens-per-step", o.tokens_per_step,
                 "if > 0: batch = this / N for every N (fixed tokens per step; overrides --batch)")
      ->capture_default_str();
  app.add_option("--peak-tflops", o.peak_tflops,
                 "peak FLOP/s for the mfu column, in TFLOP/s (989: H100/H200 SXM dense bf16; fp32 runs are "
                 "measured against it too)")->capture_default_str();
  app.footer(
      "Model FLOPs per step (nominal, every row of every block; the mfu and model_gflops columns):\n"
      "  3 x layers x [2 T (3 d^2 + 2 d d_ff) + attention],  T = batch (N + 1) (CLS included),\n"
      "  attention = 2 * 2 T d d_h (simpletron, linear_elu: K^T V and Q S over all heads)\n"
      "            = 2 * 2 batch (N + 1)^2 d (softmax: Q K^T and P V);\n"
      "  x 3 = forward + backward (twice the forward). mfu = FLOPs / (step time x --peak-tflops).\n"
      "--memory-budget defaults to 16 GiB on cpu and 120 GiB on cuda when not given.");
  if (int code = parse_command_line(app, argc, argv, "st-bench"); code >= 0) return code;
  try {
    ST_CHECK(o.steps >= 1 && o.warmup >= 0 && o.threads >= 0 && o.batch >= 1,
             "st-bench: --steps, --batch must be >= 1, --warmup and --threads >= 0");
    ST_CHECK(o.peak_tflops > 0, "st-bench: --peak-tflops must be > 0, got ", o.peak_tflops);
    ST_CHECK(o.tokens_per_step >= 0, "st-bench: --tokens-per-step must be >= 0, got ", o.tokens_per_step);
    o.precision = parse_precision(o.precision_name);
    o.recompute = kRecomputeNames.parse(o.recompute_name, "st-bench: --recompute");
    o.positions = kPositionKindNames.parse(o.positions_name, "st-bench: --positions");
    o.lm = o.task_name == "lm";
    ST_CHECK(o.vocab >= 2, "st-bench: --vocab must be at least 2, got ", o.vocab);
    ST_CHECK(o.chunk >= 1, "st-bench: --chunk must be at least 1, got ", o.chunk);
    ST_CHECK(!(o.lm && o.whole_step), "st-bench: --whole-step times the classifier only; leave out --task lm");
    ST_CHECK(!(o.parts && o.whole_step), "st-bench: --parts times the model alone; leave out --whole-step");
    o.device = resolve_device(o.device_name);
    if (!o.device.is_cpu() && app.get_option("--memory-budget")->count() == 0) o.memory_gib = 120.0;
    for (int64_t n : o.n) for_shape(o, n);  // every N divides --tokens-per-step, checked up front
    // --whole-step: SIGTERM / SIGINT end the trainer at a step boundary, so its temporary
    // directory is removed (bench/whole_step.h); the rows written so far stand.
    if (o.whole_step) install_preemption_handlers();
    ThreadDecision threads = apply_threads_alone(o.threads);
    o.threads = threads.threads;
    std::fprintf(stderr, "st-bench: d %lld, %lld layers, %lld heads, d_ff %lld, batch %s, %d threads (%s), "
                 "dropout 0, pre-LN %s, %s positions, AdamW, recompute %s; %d warm-up + %d measured steps per shape\n",
                 (long long)o.d, (long long)o.layers, (long long)o.heads, (long long)(o.ff_mult * o.d),
                 o.tokens_per_step > 0 ? (std::to_string(o.tokens_per_step) + " / N").c_str()
                                       : std::to_string(o.batch).c_str(),
                 o.threads, name_of(threads.source),
                 o.lm ? ("causal LM (chunk " + std::to_string(o.chunk) + ", tied embeddings, vocab " +
                         std::to_string(o.vocab) + ")").c_str()
                      : "classifier",
                 o.positions_name.c_str(), o.recompute_name.c_str(), o.warmup,
                 o.steps);
    if (!o.device.is_cpu()) {  // the model's softmax attention takes the fused path where this says ""
      PrecisionScope scope(o.precision);
      std::string why = fused_softmax_attention_problem(DType::F32, o.device, o.d / o.heads);
      o.fused_softmax = why.empty();
      std::fprintf(stderr, "st-bench: softmax attention %s\n",
                   o.fused_softmax ? "fused (cuDNN; no N x N)" : ("unfused, N x N (" + why + ")").c_str());
    }
    if (o.extended())
      std::fprintf(stderr, "st-bench: device %s, precision %s; mfu against %.0f TFLOP/s%s\n", o.device.str().c_str(),
                   precision_name(o.precision), o.peak_tflops,
                   o.precision == Precision::FP32 ? " (a bf16 peak: fp32 runs are measured against it too)" : "");
    double peak = o.sgemm_peak ? measure_sgemm_peak() : 0.0;
    if (o.sgemm_peak) std::printf("sgemm_peak_gflops,%.1f\n", peak);
    // Each row goes out as soon as its shape is done, so a run cut short (a timeout, a crash at a
    // large N) keeps the rows before it.
    std::string header = "kind,n,d,layers,heads,batch,threads,params,status,tokens_per_s,fwd_ms,bwd_ms,opt_ms,"
                         "step_ms,peak_bytes,bytes_per_token,gemm_gflops,gemm_share,model_gflops,";
    if (o.extended()) header += "device,precision,step_tflop,mfu,";
    if (o.parts) header += "embed_ms,attention_ms,ffn_ms,head_ms,other_ms,";
    header += "note";
    std::string out = header + "\n";
    std::fputs(out.c_str(), stdout);
    std::fflush(stdout);
    for (const std::string& ks : o.kinds) {
      AttentionKind kind = parse_attention(ks);
      double rate = 0;  // GFLOP/s measured at the previous N of this kind
      for (int64_t n : o.n) {
        Options os = for_shape(o, n);
        ModelConfig cfg = config_for(os, kind, n);
        int64_t params;
        { SimpleTronModel probe(cfg); params = probe.parameter_count(); }
        double est = estimate_bytes(os, kind, n, params);
        double est_s = rate > 0 ? step_flops(os, kind, n) / (rate * 1e9) * (o.steps + o.warmup) : 0;
        Row r;
        r.kind = name_of(kind);
        r.n = n;
        r.batch = os.batch;
        r.params = params;
        if (est > o.memory_gib * (1ull << 30)) {
          r.status = "skipped";
          r.note = "memory: estimated " + std::to_string(est / (1ull << 30)) + " GiB > --memory-budget " +
                   std::to_string(o.memory_gib) + " GiB";
        } else if (est_s > o.time_s) {
          r.status = "skipped";
          r.note = "time: estimated " + std::to_string(est_s) + " s > --time-budget " + std::to_string(o.time_s) + " s";
        } else {
          std::fprintf(stderr, "st-bench: %s N=%lld (%lld parameters)\n", r.kind.c_str(), (long long)n,
                       (long long)params);
          try {
            Row measured = o.whole_step ? run_whole_step_shape(os, kind, n) : run_shape(os, kind, n);
            measured.params = params;
            r = measured;
          } catch (const WholeStepInterrupted&) {
            throw;
          } catch (const std::exception& e) {
            // E.g. out of device memory past the estimate: this shape fails, the others still run.
            r.status = "failed";
            r.note = e.what();
            for (char& ch : r.note)
              if (ch == ',' || ch == '\n' || ch == '\r') ch = ch == ',' ? ';' : ' ';
          }
          if (r.status == "ok") rate = r.model_gflops;
        }
        if (r.status != "ok")
          std::fprintf(stderr, "st-bench: %s N=%lld SKIPPED (%s)\n", r.kind.c_str(), (long long)n, r.note.c_str());
        std::string line;
        char buf[512];
        std::snprintf(buf, sizeof buf, "%s,%lld,%lld,%lld,%lld,%lld,%d,%lld,%s,%.1f,%.2f,%.2f,%.2f,%.2f,%lld,%.1f,%.1f,%.3f,%.1f,",
                      r.kind.c_str(), (long long)r.n, (long long)o.d, (long long)o.layers, (long long)o.heads,
                      (long long)r.batch, o.threads, (long long)r.params, r.status.c_str(), r.tokens_per_s,
                      r.fwd_ms, r.bwd_ms, r.opt_ms, r.step_ms, (long long)r.peak_bytes, r.bytes_per_token,
                      r.gemm_gflops, r.gemm_share, r.model_gflops);
        line += buf;
        if (o.extended()) {
          std::snprintf(buf, sizeof buf, "%s,%s,%.4f,%.4f,", o.device.is_cpu() ? "cpu" : "cuda",
                        precision_name(o.precision), step_flops(os, kind, n) / 1e12, r.mfu);
          line += buf;
        }
        if (o.parts) {
          auto ms = [&](ModelPart p) {
            size_t i = static_cast<size_t>(p);
            return r.parts.forward[i] + r.parts.backward[i];
          };
          std::snprintf(buf, sizeof buf, "%.2f,%.2f,%.2f,%.2f,%.2f,", ms(ModelPart::Embedding),
                        ms(ModelPart::Attention), ms(ModelPart::Ffn), ms(ModelPart::Head), ms(ModelPart::Other));
          line += buf;
        }
        line += r.note + "\n";
        std::fputs(line.c_str(), stdout);
        std::fflush(stdout);
        out += line;
      }
    }
    if (!o.csv.empty()) {
      std::ofstream f(o.csv);
      ST_CHECK(f.good(), "st-bench: cannot write ", o.csv);
      f << out;
      if (o.sgemm_peak) f << "# sgemm_peak_gflops," << peak << "\n";
    }
    return 0;
  } catch (const WholeStepInterrupted& e) {
    std::fprintf(stderr, "%s; the rows above are complete\n", e.what());
    return 130;
  } catch (const std::exception& e) {
    // Our own messages name the program already; the core's get the prefix.
    std::string m = e.what();
    if (m.rfind("st-bench:", 0) != 0) m = "st-bench: error: " + m;
    std::fprintf(stderr, "%s\n", m.c_str());
    return 1;
  }
}
