// st-bench: training-step throughput and peak memory of the CPU path, per attention kind and
// sequence length. One step = forward + loss, backward, AdamW step (+ zero_grad), each timed
// separately; tokens/s = batch * N / step time (median over --steps after --warmup steps).
// Model: the DESIGN section 3 classifier (tokens + positions + CLS, pre-LN blocks, GELU-erf FFN,
// CLS head), dropout 0 (benchmarking: no random masks), random tokens without padding.
// Peak memory is the core allocator's peak over one step; bytes/token is that peak minus what
// was in use before the step (parameters and AdamW moments), divided by batch * N.
// gemm_gflops: flops / time of the GEMMs the step actually ran (core/backend/cpu/gemm_stats.h);
// gemm_share: their share of the step time. model_gflops: nominal flops of the full model (every
// row of every block, backward = 2x forward) per second of step time; the model skips rows of
// its last block that the CLS head does not read, so this exceeds the executed rate.
// Shapes whose estimated memory or time exceeds the budgets are skipped, and the output says why.
//   st-bench --d 256 --layers 2 --heads 4 --batch 1 --n 256,1024,4096 --kinds simpletron,softmax
//            --steps 3 --warmup 1 --threads 2 --csv out.csv [--sgemm-peak]
#include <cblas.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "core/backend/backend.h"
#include "core/backend/cpu/gemm_stats.h"
#include "core/nn/model.h"
#include "core/optim/adamw.h"

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
  std::vector<std::string> kinds = {"simpletron", "softmax", "linear_elu"};
  int steps = 3, warmup = 1, threads = 2;
  double memory_gib = 16.0, time_s = 120.0;
  std::string csv;
  bool sgemm_peak = false;
};

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
  return c;
}

// Training FLOPs of one step (forward 2 per multiply-add, backward twice the forward).
double step_flops(const Options& o, AttentionKind kind, int64_t n) {
  double T = double(o.batch) * double(n + 1), d = double(o.d), f = double(o.ff_mult * o.d);
  double dh = d / double(o.heads);
  double per_layer = 2 * T * (3 * d * d + 2 * d * f);  // projections + FFN
  if (kind == AttentionKind::Softmax) per_layer += 2 * 2 * double(o.batch) * double(o.heads) * double(n + 1) * double(n + 1) * dh;
  else per_layer += 2 * 2 * T * d * dh;  // K^T V and Q S
  return 3 * per_layer * double(o.layers);
}

// Rough peak-memory estimate (bytes) before running: parameters x 4 (value, grad, m, v), the
// activations each block saves (about 16 d + 3 d_ff floats per token), and for softmax the
// N x N probabilities saved per layer plus three transient N x N buffers.
double estimate_bytes(const Options& o, AttentionKind kind, int64_t n, int64_t params) {
  double T = double(o.batch) * double(n + 1);
  double act = T * double(o.layers) * (16.0 * double(o.d) + 3.0 * double(o.ff_mult * o.d)) * 4.0;
  double quad = 0;
  if (kind == AttentionKind::Softmax)
    quad = double(o.batch) * double(o.heads) * double(n + 1) * double(n + 1) * 4.0 * double(o.layers + 3);
  return 4.0 * 4.0 * double(params) + act + quad;
}

struct Row {
  std::string kind, status = "ok", note;
  int64_t n = 0, params = 0;
  double tokens_per_s = 0, fwd_ms = 0, bwd_ms = 0, opt_ms = 0, step_ms = 0;
  int64_t peak_bytes = 0;
  double bytes_per_token = 0, gemm_gflops = 0, gemm_share = 0, model_gflops = 0;
};

Row run_shape(const Options& o, AttentionKind kind, int64_t n) {
  Row r;
  r.kind = name_of(kind);
  r.n = n;
  ModelConfig cfg = config_for(o, kind, n);
  SimpleTronModel model(cfg);
  r.params = model.parameter_count();
  AdamW opt(model.named_parameters(), AdamWConfig{.weight_decay = 0.01});
  Tensor ids = Tensor::uniform({o.batch, n}, 7, 1, double(o.vocab), DType::I32);
  Tensor labels = Tensor::uniform({o.batch}, 8, 0, double(o.classes), DType::I32);
  std::vector<double> fwd, bwd, op, total, gflops, share;
  int64_t peak = 0;
  double peak_act = 0;
  for (int s = 0; s < o.warmup + o.steps; ++s) {
    bool measured = s >= o.warmup;
    int64_t before = memory_stats().bytes_in_use;
    reset_peak_memory();
    cpu::gemm_stats_reset();
    cpu::gemm_stats_enable(measured);
    RunContext ctx{.seed = 1, .step = static_cast<uint32_t>(s + 1)};
    auto t0 = Clock::now();
    Tensor loss = model.loss(model.forward(ids, Tensor(), ctx), labels);
    double tf = seconds_since(t0);
    auto t1 = Clock::now();
    loss.backward();
    double tb = seconds_since(t1);
    auto t2 = Clock::now();
    opt.step(1e-4);
    opt.zero_grad();
    double to = seconds_since(t2);
    cpu::gemm_stats_enable(false);
    MemoryStats ms = memory_stats();
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
  app.add_option("--kinds", o.kinds, "attention kinds: simpletron, softmax, linear_elu")
      ->delimiter(',')->capture_default_str();
  app.add_option("--steps", o.steps, "measured steps (median reported)")->capture_default_str();
  app.add_option("--warmup", o.warmup, "unmeasured steps first")->capture_default_str();
  app.add_option("--threads", o.threads, "CPU threads (OpenMP and BLAS)")->capture_default_str();
  app.add_option("--memory-budget", o.memory_gib, "skip shapes estimated above this (GiB)")->capture_default_str();
  app.add_option("--time-budget", o.time_s, "skip shapes whose measured steps would exceed this (s)")->capture_default_str();
  app.add_option("--csv", o.csv, "write the results as CSV to this file");
  app.add_flag("--sgemm-peak", o.sgemm_peak, "also measure cblas_sgemm at 2048^3 (the GEMM peak)");
  CLI11_PARSE(app, argc, argv);
  try {
    ST_CHECK(o.steps >= 1 && o.warmup >= 0 && o.threads >= 1 && o.batch >= 1,
             "st-bench: --steps, --threads, --batch must be >= 1 and --warmup >= 0");
    set_num_threads(o.threads);
    std::fprintf(stderr, "st-bench: d %lld, %lld layers, %lld heads, d_ff %lld, batch %lld, %d threads, "
                 "dropout 0, pre-LN classifier, AdamW; %d warm-up + %d measured steps per shape\n",
                 (long long)o.d, (long long)o.layers, (long long)o.heads, (long long)(o.ff_mult * o.d),
                 (long long)o.batch, o.threads, o.warmup, o.steps);
    double peak = o.sgemm_peak ? measure_sgemm_peak() : 0.0;
    if (o.sgemm_peak) std::printf("sgemm_peak_gflops,%.1f\n", peak);
    std::vector<Row> rows;
    for (const std::string& ks : o.kinds) {
      AttentionKind kind = parse_attention(ks);
      double rate = 0;  // GFLOP/s measured at the previous N of this kind
      for (int64_t n : o.n) {
        ModelConfig cfg = config_for(o, kind, n);
        int64_t params;
        { SimpleTronModel probe(cfg); params = probe.parameter_count(); }
        double est = estimate_bytes(o, kind, n, params);
        double est_s = rate > 0 ? step_flops(o, kind, n) / (rate * 1e9) * (o.steps + o.warmup) : 0;
        Row r;
        r.kind = name_of(kind);
        r.n = n;
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
          r = run_shape(o, kind, n);
          if (r.status == "ok") rate = r.model_gflops;
        }
        if (r.status != "ok")
          std::fprintf(stderr, "st-bench: %s N=%lld SKIPPED (%s)\n", r.kind.c_str(), (long long)n, r.note.c_str());
        rows.push_back(r);
      }
    }
    const char* header = "kind,n,d,layers,heads,batch,threads,params,status,tokens_per_s,fwd_ms,bwd_ms,opt_ms,"
                         "step_ms,peak_bytes,bytes_per_token,gemm_gflops,gemm_share,model_gflops,note";
    std::string out = std::string(header) + "\n";
    for (const Row& r : rows) {
      char buf[512];
      std::snprintf(buf, sizeof buf, "%s,%lld,%lld,%lld,%lld,%lld,%d,%lld,%s,%.1f,%.2f,%.2f,%.2f,%.2f,%lld,%.1f,%.1f,%.3f,%.1f,%s\n",
                    r.kind.c_str(), (long long)r.n, (long long)o.d, (long long)o.layers, (long long)o.heads,
                    (long long)o.batch, o.threads, (long long)r.params, r.status.c_str(), r.tokens_per_s,
                    r.fwd_ms, r.bwd_ms, r.opt_ms, r.step_ms, (long long)r.peak_bytes, r.bytes_per_token,
                    r.gemm_gflops, r.gemm_share, r.model_gflops, r.note.c_str());
      out += buf;
    }
    std::fputs(out.c_str(), stdout);
    if (!o.csv.empty()) {
      std::ofstream f(o.csv);
      ST_CHECK(f.good(), "st-bench: cannot write ", o.csv);
      f << out;
      if (o.sgemm_peak) f << "# sgemm_peak_gflops," << peak << "\n";
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "st-bench: error: %s\n", e.what());
    return 1;
  }
}
