// st-bench-core: core op throughput against baselines run side by side in one process.
//   matmul (st::matmul, output allocated per call) vs raw OpenBLAS cblas_sgemm into a
//   preallocated output: GFLOP/s and their ratio;
//   LayerNorm, GELU and softmax-cross-entropy (forward and backward kernels) vs a memcpy of the
//   same bytes (bytes read + bytes written), both with the same thread count: GB/s and ratio.
// Usage: st-bench-core [--threads N] [Google Benchmark flags]; by default 5 randomly interleaved
// repetitions per benchmark, medians reported.
#include <benchmark/benchmark.h>
#include <cblas.h>
#include <omp.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "core/backend/backend.h"
#include "core/backend/thread_policy.h"
#include "core/ops/ops.h"
#include "launch/cli.h"

namespace {

using namespace st;

// ---- matmul ----------------------------------------------------------------------------------
void BM_MatmulOurs(benchmark::State& s) {
  int64_t M = s.range(0), K = s.range(1), N = s.range(2);
  Tensor a = Tensor::randn({M, K}, 1), b = Tensor::randn({K, N}, 2);
  NoGradGuard ng;
  for (auto _ : s) benchmark::DoNotOptimize(matmul(a, b).raw_data());
  s.counters["GFLOP/s"] = benchmark::Counter(2.0 * M * N * K, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}

void BM_MatmulSgemm(benchmark::State& s) {
  int64_t M = s.range(0), K = s.range(1), N = s.range(2);
  Tensor a = Tensor::randn({M, K}, 1), b = Tensor::randn({K, N}, 2), c = Tensor::empty({M, N});
  for (auto _ : s) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, a.data<float>(), K,
                b.data<float>(), N, 0.0f, c.data<float>(), N);
    benchmark::DoNotOptimize(c.raw_data());
  }
  s.counters["GFLOP/s"] = benchmark::Counter(2.0 * M * N * K, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}

// ---- bandwidth-bound kernels -----------------------------------------------------------------
void parallel_memcpy(void* dst, const void* src, size_t bytes) {
#pragma omp parallel
  {
    int t = omp_get_thread_num(), n = omp_get_num_threads();
    size_t chunk = (bytes / n + 63) / 64 * 64;
    size_t begin = std::min(bytes, chunk * t), end = std::min(bytes, begin + chunk);
    std::memcpy(static_cast<char*>(dst) + begin, static_cast<const char*>(src) + begin, end - begin);
  }
}

void set_bytes(benchmark::State& s, double bytes) {
  s.counters["GB/s"] = benchmark::Counter(bytes, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}

// Memcpy moving `bytes` in total (half read, half written).
void BM_Memcpy(benchmark::State& s) {
  size_t moved = static_cast<size_t>(s.range(0));
  std::vector<char> src(moved / 2, 1), dst(moved / 2);
  for (auto _ : s) {
    parallel_memcpy(dst.data(), src.data(), moved / 2);
    benchmark::DoNotOptimize(dst.data());
  }
  set_bytes(s, static_cast<double>(moved));
}

void BM_LayerNormForward(benchmark::State& s) {
  int64_t R = s.range(0), C = s.range(1);
  Tensor x = Tensor::randn({R, C}, 1), w = Tensor::ones({C}), b = Tensor::zeros({C});
  Tensor y = Tensor::empty({R, C}), mu = Tensor::empty({R}), rs = Tensor::empty({R});
  for (auto _ : s) cpu_backend().layer_norm_forward(x, w, b, 1e-6, y, mu, rs, Tensor());
  set_bytes(s, 4.0 * (2 * R * C + 2 * R));
}

void BM_LayerNormBackward(benchmark::State& s) {
  int64_t R = s.range(0), C = s.range(1);
  Tensor x = Tensor::randn({R, C}, 1), w = Tensor::ones({C}), b = Tensor::zeros({C});
  Tensor y = Tensor::empty({R, C}), mu = Tensor::empty({R}), rs = Tensor::empty({R});
  cpu_backend().layer_norm_forward(x, w, b, 1e-6, y, mu, rs, Tensor());
  Tensor dy = Tensor::randn({R, C}, 2), dx = Tensor::empty({R, C});
  Tensor dw = Tensor::empty({C}), db = Tensor::empty({C});
  for (auto _ : s) cpu_backend().layer_norm_backward(x, w, mu, rs, dy, dx, dw, db);
  set_bytes(s, 4.0 * 3 * R * C);  // x, dy read; dx written
}

void BM_GeluForward(benchmark::State& s) {
  int64_t n = s.range(0);
  Tensor x = Tensor::randn({n}, 1), y = Tensor::empty({n});
  for (auto _ : s) cpu_backend().unary(UnaryOp::GeluTanh, x, y);
  set_bytes(s, 4.0 * 2 * n);
}

void BM_GeluBackward(benchmark::State& s) {
  int64_t n = s.range(0);
  Tensor x = Tensor::randn({n}, 1), dy = Tensor::randn({n}, 2), dx = Tensor::empty({n});
  for (auto _ : s) cpu_backend().unary_grad(UnaryGradOp::GeluTanh, x, dy, dx);
  set_bytes(s, 4.0 * 3 * n);
}

void BM_SoftmaxCrossEntropyForward(benchmark::State& s) {
  int64_t R = s.range(0), C = s.range(1);
  Tensor x = Tensor::randn({R, C}, 1);
  Tensor labels = Tensor::uniform({R}, 2, 0, C, DType::I32);
  Tensor loss = Tensor::empty({R}), lse = Tensor::empty({R});
  for (auto _ : s) cpu_backend().cross_entropy_forward(x, labels, -100, 0.0, loss, lse);
  set_bytes(s, 4.0 * (R * C + 3 * R));
}

void BM_SoftmaxCrossEntropyBackward(benchmark::State& s) {
  int64_t R = s.range(0), C = s.range(1);
  Tensor x = Tensor::randn({R, C}, 1);
  Tensor labels = Tensor::uniform({R}, 2, 0, C, DType::I32);
  Tensor loss = Tensor::empty({R}), lse = Tensor::empty({R}), dl = Tensor::ones({R});
  cpu_backend().cross_entropy_forward(x, labels, -100, 0.0, loss, lse);
  Tensor dx = Tensor::empty({R, C});
  for (auto _ : s) cpu_backend().cross_entropy_backward(x, labels, lse, dl, -100, 0.0, dx);
  set_bytes(s, 4.0 * (2 * R * C + 3 * R));
}

// ---- side-by-side report -------------------------------------------------------------------
struct Capture : benchmark::ConsoleReporter {
  std::map<std::string, double> rate;  // name -> GFLOP/s or GB/s
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& r : runs) {
      // With --benchmark_repetitions=K the median of the K runs is used.
      bool median = r.run_type == Run::RT_Aggregate && r.aggregate_name == "median";
      if (r.error_occurred || (r.run_type != Run::RT_Iteration && !median)) continue;
      for (const char* key : {"GFLOP/s", "GB/s"}) {
        auto it = r.counters.find(key);
        std::string name = r.run_name.str();
        if (it != r.counters.end() && (median || !rate.count(name))) rate[name] = it->second.value / 1e9;
      }
    }
  }
};

}  // namespace

constexpr int64_t kRows = 8192, kCols = 512, kGelu = 1 << 22, kClasses = 1024;
constexpr int64_t kLmRows = 32 * 4096, kLmVocab = 256;  // byte-level LM: batch 32 x length 4K

BENCHMARK(BM_MatmulOurs)->Args({256, 256, 256})->Args({512, 512, 512})->Args({1024, 1024, 1024})->Args({4096, 512, 2048})->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_MatmulSgemm)->Args({256, 256, 256})->Args({512, 512, 512})->Args({1024, 1024, 1024})->Args({4096, 512, 2048})->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LayerNormForward)->Args({kRows, kCols})->UseRealTime();
BENCHMARK(BM_LayerNormBackward)->Args({kRows, kCols})->UseRealTime();
BENCHMARK(BM_GeluForward)->Arg(kGelu)->UseRealTime();
BENCHMARK(BM_GeluBackward)->Arg(kGelu)->UseRealTime();
BENCHMARK(BM_SoftmaxCrossEntropyForward)->Args({kRows, kClasses})->Args({kLmRows, kLmVocab})->UseRealTime();
BENCHMARK(BM_SoftmaxCrossEntropyBackward)->Args({kRows, kClasses})->Args({kLmRows, kLmVocab})->UseRealTime();
BENCHMARK(BM_Memcpy)->Arg(4 * 2 * kRows * kCols)->Arg(4 * 3 * kRows * kCols)->Arg(4 * 2 * kGelu)->Arg(4 * 3 * kGelu)->Arg(4 * kRows * kClasses)->Arg(4 * 2 * kRows * kClasses)->Arg(4 * kLmRows * kLmVocab)->Arg(4 * 2 * kLmRows * kLmVocab)->UseRealTime();

int main(int argc, char** argv) {
  // Our options (CLI11); every --benchmark_* option goes on to Google Benchmark, which checks it.
  int threads = 0;
  CLI::App app{"st-bench-core: our CPU kernels against OpenBLAS and memcpy baselines (Google Benchmark)"};
  app.add_option("--threads", threads, "CPU threads; 0: automatic (the config key threads)")
      ->check(CLI::Range(0, 65536))
      ->capture_default_str();
  app.allow_extras();
  app.footer("Other options are Google Benchmark's (--benchmark_filter=REGEX, --benchmark_repetitions=N, ...): "
             "st-bench-core --benchmark_help lists them.");
  if (int code = st::parse_command_line(app, argc, argv, "st-bench-core"); code >= 0) return code;
  std::vector<std::string> extras = app.remaining();
  for (const std::string& e : extras) {
    if (e.rfind("--benchmark_", 0) != 0) {
      std::fprintf(stderr, "st-bench-core: unknown option '%s' (see --help)\n", e.c_str());
      return st::kExitUsage;
    }
  }
  std::vector<char*> rest = {argv[0]};
  for (std::string& e : extras) rest.push_back(e.data());
  // Defaults (overridable): 5 repetitions, randomly interleaved so that ours and its baseline
  // see the same machine conditions; the table uses the medians.
  std::vector<std::string> defaults = {"--benchmark_repetitions=5",
                                       "--benchmark_enable_random_interleaving=true",
                                       "--benchmark_min_time=0.2"};
  std::vector<std::string> storage;
  for (auto& d : defaults) {
    std::string key = d.substr(0, d.find('='));
    bool given = false;
    for (char* a : rest) given = given || std::string(a).rfind(key, 0) == 0;
    if (!given) storage.push_back(d);
  }
  for (auto& d : storage) rest.push_back(d.data());
  int n = static_cast<int>(rest.size());
  ThreadDecision decided = apply_threads_alone(threads);  // 0: automatic
  benchmark::Initialize(&n, rest.data());
  if (benchmark::ReportUnrecognizedArguments(n, rest.data())) return st::kExitUsage;
  Capture cap;
  benchmark::RunSpecifiedBenchmarks(&cap);
  auto& r = cap.rate;
  auto get = [&](const std::string& k) { auto it = r.find(k); return it == r.end() ? 0.0 : it->second; };
  std::printf("\nSide by side (%d threads, %s):\n\n| kernel | shape | ours | baseline | ratio |\n|---|---|---|---|---|\n",
              num_threads(), name_of(decided.source));
  for (const char* shape : {"256/256/256", "512/512/512", "1024/1024/1024", "4096/512/2048"}) {
    double o = get(std::string("BM_MatmulOurs/") + shape + "/real_time");
    double b = get(std::string("BM_MatmulSgemm/") + shape + "/real_time");
    if (o > 0 && b > 0)
      std::printf("| matmul vs cblas_sgemm | %s | %.1f GFLOP/s | %.1f GFLOP/s | %.3f |\n", shape, o, b, o / b);
  }
  auto bw = [&](const char* label, const std::string& ours, int64_t bytes, const char* shape) {
    double o = get(ours + "/real_time");
    double b = get("BM_Memcpy/" + std::to_string(bytes) + "/real_time");
    if (o > 0 && b > 0)
      std::printf("| %s vs memcpy | %s | %.1f GB/s | %.1f GB/s | %.3f |\n", label, shape, o, b, o / b);
  };
  std::string rc = std::to_string(kRows) + "/" + std::to_string(kCols);
  std::string rk = std::to_string(kRows) + "/" + std::to_string(kClasses);
  bw("LayerNorm forward", "BM_LayerNormForward/" + rc, 4 * 2 * kRows * kCols, "8192x512");
  bw("LayerNorm backward", "BM_LayerNormBackward/" + rc, 4 * 3 * kRows * kCols, "8192x512");
  bw("GELU forward", "BM_GeluForward/" + std::to_string(kGelu), 4 * 2 * kGelu, "4M");
  bw("GELU backward", "BM_GeluBackward/" + std::to_string(kGelu), 4 * 3 * kGelu, "4M");
  bw("softmax-CE forward", "BM_SoftmaxCrossEntropyForward/" + rk, 4 * kRows * kClasses, "8192x1024");
  bw("softmax-CE backward", "BM_SoftmaxCrossEntropyBackward/" + rk, 4 * 2 * kRows * kClasses, "8192x1024");
  std::string lm = std::to_string(kLmRows) + "/" + std::to_string(kLmVocab);
  bw("softmax-CE forward", "BM_SoftmaxCrossEntropyForward/" + lm, 4 * kLmRows * kLmVocab, "131072x256");
  bw("softmax-CE backward", "BM_SoftmaxCrossEntropyBackward/" + lm, 4 * 2 * kLmRows * kLmVocab, "131072x256");
  return 0;
}
