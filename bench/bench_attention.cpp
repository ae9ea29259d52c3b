// st-bench-attention: SimpleTRON attention alone, forward + backward, per sequence length, on the
// CPU or a CUDA device, in fp32 or bf16 matrix products (core/ops/precision.h). The op is the
// model's: Q, K, V (B, N, H*d_h) f32 in the projection layout (heads read in place),
// S = s K^T V per head (B, H, d_h, d_h) with s = 1/sqrt(N), Y = Q S (B, N, H*d_h); backward from
// a fixed random dY (B, N, H*d_h) writes dQ, dK, dV (=, gradients dropped between repetitions).
// Times are host timings around Backend::synchronize(), medians over --steps after --warmup.
// FLOPs: forward 2 * 2 B N H d_h^2 (K^T V and Q S), backward twice that.
// Output: CSV (impl,b,h,n,dh,device,precision,threads,status,fwd_ms,bwd_ms,total_ms,tflops,note), the
// format bench/torch_attention.py writes for flash attention, so scripts/bench_gpu.sh can pair rows.
//   st-bench-attention --device cuda --precision bf16 --heads 16 --head-dim 64 --tokens 65536
//                      --n 1024,2048,4096,16384,65536
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "core/backend/backend.h"
#include "core/backend/thread_policy.h"
#include "core/ops/ops.h"
#include "core/ops/precision.h"
#include "launch/cli.h"

namespace {

using namespace st;
using Clock = std::chrono::steady_clock;

struct Options {
  int64_t heads = 16, head_dim = 64, batch = 1, tokens = 0;
  std::vector<int64_t> n = {1024, 2048, 4096, 16384, 65536};
  int steps = 10, warmup = 3, threads = 0;
  std::string device_name = "cpu", precision_name = "fp32", csv;
  double memory_gib = 0;  // 0: 16 on cpu, 120 on cuda
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

Device resolve_device(const std::string& s) {
  if (s == "cpu") return Device::cpu();
  ST_CHECK(s == "cuda", "st-bench-attention: --device '", s, "' is not one of cpu, cuda");
  ST_CHECK(cuda_built(), "st-bench-attention: --device cuda, but this build has no CUDA backend (configure "
           "with -DST_CUDA=ON); use --device cpu");
  ST_CHECK(cuda_device_count() > 0, "st-bench-attention: --device cuda, but no CUDA device is visible to this "
           "process (check nvidia-smi and CUDA_VISIBLE_DEVICES); use --device cpu");
  return Device::cuda(0);
}

struct Row {
  int64_t b = 0, n = 0;
  std::string status = "ok", note;
  double fwd_ms = 0, bwd_ms = 0, total_ms = 0, tflops = 0;
};

Row run_shape(const Options& o, Device dev, int64_t B, int64_t N) {
  Row r;
  r.b = B;
  r.n = N;
  int64_t H = o.heads, dh = o.head_dim, C = H * dh;
  Backend& be = backend_for(dev);
  Tensor q = Tensor::randn({B, N, C}, 1).to(dev).set_requires_grad(true);  // (B, N, H*d_h)
  Tensor k = Tensor::randn({B, N, C}, 2).to(dev).set_requires_grad(true);
  Tensor v = Tensor::randn({B, N, C}, 3).to(dev).set_requires_grad(true);
  Tensor dy = Tensor::randn({B, N, C}, 4).to(dev);
  double s = 1.0 / std::sqrt(double(N));
  std::vector<double> fwd, bwd;
  for (int i = 0; i < o.warmup + o.steps; ++i) {
    q.zero_grad();
    k.zero_grad();
    v.zero_grad();
    be.synchronize();
    auto t0 = Clock::now();
    Tensor S = scale(heads_state(k, v, H), s);  // (B, H, d_h, d_h)
    Tensor y = heads_apply(q, S);               // (B, N, H*d_h)
    be.synchronize();
    auto t1 = Clock::now();
    y.backward(dy);
    be.synchronize();
    auto t2 = Clock::now();
    if (i < o.warmup) continue;
    fwd.push_back(std::chrono::duration<double>(t1 - t0).count());
    bwd.push_back(std::chrono::duration<double>(t2 - t1).count());
  }
  r.fwd_ms = 1e3 * median(fwd);
  r.bwd_ms = 1e3 * median(bwd);
  std::vector<double> tot(fwd.size());
  for (size_t i = 0; i < fwd.size(); ++i) tot[i] = fwd[i] + bwd[i];
  r.total_ms = 1e3 * median(tot);
  double flops = 3.0 * 2.0 * 2.0 * double(B) * double(N) * double(H) * double(dh) * double(dh);
  r.tflops = flops / (r.total_ms / 1e3) / 1e12;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"st-bench-attention: SimpleTRON attention forward + backward per N (ms), for comparison "
               "with flash attention (bench/torch_attention.py)"};
  app.add_option("--heads", o.heads, "heads H")->capture_default_str();
  app.add_option("--head-dim", o.head_dim, "head width d_h")->capture_default_str();
  app.add_option("--batch", o.batch, "sequences B (unless --tokens)")->capture_default_str();
  app.add_option("--tokens", o.tokens, "if > 0: B = tokens / N for every N (fixed B * N)")->capture_default_str();
  app.add_option("--n", o.n, "sequence lengths (comma separated)")->delimiter(',')->capture_default_str();
  app.add_option("--steps", o.steps, "measured repetitions (median reported)")->capture_default_str();
  app.add_option("--warmup", o.warmup, "unmeasured repetitions first")->capture_default_str();
  app.add_option("--threads", o.threads, "CPU threads; 0: automatic (the config key threads)")->capture_default_str();
  app.add_option("--device", o.device_name, "cpu | cuda (CUDA device 0)")->capture_default_str();
  app.add_option("--precision", o.precision_name, "fp32 | bf16 (bf16 products, f32 accumulation)")
      ->check(CLI::IsMember(kPrecisionNames.names()))
      ->capture_default_str();
  app.add_option("--memory-budget", o.memory_gib, "skip shapes estimated above this (GiB; 0: 16 cpu, 120 cuda)")
      ->capture_default_str();
  app.add_option("--csv", o.csv, "write the results as CSV to this file");
  app.footer("FLOPs (tflops column): 3 x 2 x 2 B N H d_h^2 per forward + backward.");
  if (int code = parse_command_line(app, argc, argv, "st-bench-attention"); code >= 0) return code;
  try {
    ST_CHECK(o.steps >= 1 && o.warmup >= 0 && o.threads >= 0 && o.batch >= 1 && o.heads >= 1 && o.head_dim >= 1,
             "st-bench-attention: --steps, --batch, --heads, --head-dim must be >= 1, --warmup and --threads >= 0");
    Device dev = resolve_device(o.device_name);
    Precision prec = parse_precision(o.precision_name);
    double budget = o.memory_gib > 0 ? o.memory_gib : (dev.is_cpu() ? 16.0 : 120.0);
    for (int64_t n : o.n)
      ST_CHECK(n >= 1 && (o.tokens == 0 || (o.tokens % n == 0 && o.tokens >= n)), "st-bench-attention: N = ", n,
               " must be >= 1 and divide --tokens ", o.tokens);
    ThreadDecision threads = apply_threads_alone(o.threads);
    PrecisionScope scope(prec);
    std::fprintf(stderr, "st-bench-attention: %s, %s, H %lld, d_h %lld, %d CPU threads (%s), %d warm-up + %d measured "
                 "repetitions\n", dev.str().c_str(), precision_name(prec), (long long)o.heads, (long long)o.head_dim,
                 threads.threads, name_of(threads.source), o.warmup, o.steps);
    std::string out = "impl,b,h,n,dh,device,precision,threads,status,fwd_ms,bwd_ms,total_ms,tflops,note\n";
    // Rows go out as their shapes finish, so a run cut short keeps the rows before it.
    std::fputs(out.c_str(), stdout);
    std::fflush(stdout);
    for (int64_t n : o.n) {
      int64_t B = o.tokens > 0 ? o.tokens / n : o.batch;
      // Q, K, V, dY, Y and the three gradients, f32; plus S per head.
      double est = 8.0 * double(B) * double(n) * double(o.heads * o.head_dim) * 4.0;
      Row r;
      if (est > budget * (1ull << 30)) {
        r.b = B;
        r.n = n;
        r.status = "skipped";
        r.note = "memory: estimated " + std::to_string(est / (1ull << 30)) + " GiB > --memory-budget " +
                 std::to_string(budget) + " GiB";
        std::fprintf(stderr, "st-bench-attention: N=%lld SKIPPED (%s)\n", (long long)n, r.note.c_str());
      } else {
        try {
          r = run_shape(o, dev, B, n);
          std::fprintf(stderr, "st-bench-attention: B=%lld N=%lld: fwd %.3f ms, bwd %.3f ms, total %.3f ms\n",
                       (long long)B, (long long)n, r.fwd_ms, r.bwd_ms, r.total_ms);
        } catch (const std::exception& e) {
          // E.g. out of device memory: this N fails, the others still run.
          r.b = B;
          r.n = n;
          r.status = "failed";
          r.note = std::string(e.what()).substr(0, 300);  // the row's buffer holds 512 characters
          for (char& ch : r.note)
            if (ch == ',' || ch == '\n' || ch == '\r') ch = ch == ',' ? ';' : ' ';
          std::fprintf(stderr, "st-bench-attention: N=%lld FAILED (%s)\n", (long long)n, r.note.c_str());
        }
      }
      char buf[512];
      std::snprintf(buf, sizeof buf, "simpletron,%lld,%lld,%lld,%lld,%s,%s,%d,%s,%.4f,%.4f,%.4f,%.2f,%s\n", (long long)r.b,
                    (long long)o.heads, (long long)r.n, (long long)o.head_dim, dev.is_cpu() ? "cpu" : "cuda",
                    precision_name(prec), threads.threads, r.status.c_str(), r.fwd_ms, r.bwd_ms, r.total_ms, r.tflops, r.note.c_str());
      std::fputs(buf, stdout);
      std::fflush(stdout);
      out += buf;
    }
    if (!o.csv.empty()) {
      std::ofstream f(o.csv);
      ST_CHECK(f.good(), "st-bench-attention: cannot write ", o.csv);
      f << out;
    }
    return 0;
  } catch (const std::exception& e) {
    // Our own messages name the program already; the core's get the prefix.
    std::string m = e.what();
    if (m.rfind("st-bench-attention:", 0) != 0) m = "st-bench-attention: error: " + m;
    std::fprintf(stderr, "%s\n", m.c_str());
    return 1;
  }
}
