// st-bench-dist: training-step time of a SimpleTRON classifier at long N on 1 process (with 1
// thread and with P threads) against P processes of 1 thread each in every dp x sp layout (dp
// ranks each take batch/dp sequences, sp ranks each N/sp tokens), on the same cores; and the
// bytes SP attention moves per step against what an all-gather of K and V (Ring Attention /
// Ulysses-style) would move.
//   mpirun -np P build/bench/st-bench-dist [--n 16k] [--batch P] [--steps 3] [--d 128] [--csv F]
// A layout whose dp does not divide the batch, or whose sp the model cannot use, is skipped
// with the reason. Each row also has the peak of the core allocator (largest over the ranks);
// --csv appends the rows to a CSV file (scripts/sweep.py runs it over grids of P, N and d).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/nn/model.h"
#include "core/tensor/allocator.h"
#include "distributed/data_parallel.h"
#include "distributed/mpi_communicator.h"
#include "distributed/parallel_loss.h"
#include "launch/cli.h"

namespace {

using namespace st;

struct Options {
  int64_t n = 16384, batch = 0, steps = 3;  // batch 0: the number of processes
  int64_t d = 128, heads = 4, layers = 2, d_ff = 0;  // d_ff 0: 2 d
  std::string csv;
};

ModelConfig model_config(const Options& o) {
  ModelConfig c;
  c.vocab_size = 256;
  c.max_len = o.n;
  c.num_classes = 10;
  c.d_model = o.d;
  c.heads = o.heads;
  c.layers = o.layers;
  c.d_ff = o.d_ff > 0 ? o.d_ff : 2 * o.d;
  c.dropout = 0.1f;
  return c;
}

// Seconds per step (median of o.steps after one warm-up) on the grid's layout; the largest peak of
// the allocator over the grid's ranks in *peak_bytes.
double time_steps(const Options& o, ProcessGrid& grid, int64_t* sp_bytes, int64_t* peak_bytes) {
  reset_peak_memory();
  ModelConfig cfg = model_config(o);
  SimpleTronModel model(cfg);
  GradientSync sync(model.named_parameters(), grid.world(), grid.dp_size());
  Tensor ids = Tensor::uniform({o.batch, o.n}, 3, 1, 256, DType::I32);
  Tensor labels = Tensor::uniform({o.batch}, 4, 0, 10, DType::I32);
  int64_t b = o.batch / grid.dp_size();
  Tensor mine = ids.narrow(0, grid.dp_rank() * b, b)
                    .narrow(1, grid.column_begin(o.n), grid.column_count(o.n)).contiguous();
  Tensor my_labels = labels.narrow(0, grid.dp_rank() * b, b).contiguous();
  std::vector<double> times;
  for (int64_t s = 0; s <= o.steps; ++s) {
    grid.world().barrier();
    grid.sp().reset_bytes_sent();
    auto t0 = std::chrono::steady_clock::now();
    RunContext ctx = grid.context(1, static_cast<uint32_t>(s), o.batch, o.n, cfg.uses_cls());
    model.zero_grad();
    ModelOutput out = model.run(mine, Tensor(), ctx);
    ParallelLoss pl = parallel_loss(model, out, my_labels, grid, grid.world());
    sync.begin_backward(true);
    pl.root.backward();
    sync.finish();
    grid.world().barrier();
    if (s > 0) times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    *sp_bytes = grid.sp().bytes_sent();
  }
  std::vector<double> peaks(static_cast<size_t>(grid.world_size()), 0.0);
  peaks[static_cast<size_t>(grid.world_rank())] = static_cast<double>(memory_stats().peak_bytes);
  Tensor all = Tensor::from_vector(peaks, {grid.world_size()});
  grid.world().all_reduce_sum(all);
  peaks = all.to_vector<double>();
  *peak_bytes = static_cast<int64_t>(*std::max_element(peaks.begin(), peaks.end()));
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  MpiEnvironment env(&argc, &argv);
  Options o;
  CLI::App app{"st-bench-dist: step time of 1 process against P processes in every dp x sp layout"};
  app.add_option("--n", o.n, "sequence length (2k = 2048)")->transform(token_count())->capture_default_str();
  app.add_option("--batch", o.batch, "sequences per step (0: the number of processes)")->capture_default_str();
  app.add_option("--steps", o.steps, "measured steps (median reported)")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--d", o.d, "model width d")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--heads", o.heads, "attention heads")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--layers", o.layers, "blocks")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--csv", o.csv,
                 "append the rows to this CSV file (written with a header when new): processes, threads, dp, sp, "
                 "n, d, batch, step_s, tokens_per_s, peak_bytes_per_rank, sp_bytes_per_rank, skipped");
  auto world = MpiCommunicator::world(3600.0);
  int rank = world->rank(), P = world->size();
  // Only rank 0 prints help, errors and the version; every rank exits with the same code.
  if (int code = parse_command_line(app, argc, argv, "st-bench-dist", rank == 0); code >= 0) return code;
  if (o.batch == 0) o.batch = P;
  try {
    ST_CHECK(o.n >= 2 && o.batch >= 1, "--n must be at least 2 and --batch at least 1");
    ModelConfig c = model_config(o);
    c.validate();
    // 1 process with 1 and with P threads: rank 0 alone on a local communicator; the others wait.
    double single1 = 0, single = 0;
    int64_t bytes = 0, peak1 = 0, peak = 0;
    if (rank == 0) {
      ProcessGrid solo(std::make_shared<LocalCommunicator>(), 1);
      set_num_threads(1);
      single1 = time_steps(o, solo, &bytes, &peak1);
      set_num_threads(P);
      single = time_steps(o, solo, &bytes, &peak);
    }
    world->barrier();
    set_num_threads(1);
    struct Row {
      int dp, sp;
      double seconds;
      int64_t sp_bytes, peak_bytes;
      std::string skipped;
    };
    std::vector<Row> rows;
    for (int sp = 1; sp <= P; ++sp) {
      if (P % sp != 0) continue;
      int dp = P / sp;
      Row r{dp, sp, 0, 0, 0, ""};
      ProcessGrid grid(world, sp);
      if (o.batch % dp != 0) {
        r.skipped = "dp " + std::to_string(dp) + " does not divide --batch " + std::to_string(o.batch);
      } else {
        try {
          grid.validate(c, o.n);
        } catch (const Error& e) {
          r.skipped = e.what();
        }
      }
      if (r.skipped.empty()) r.seconds = time_steps(o, grid, &r.sp_bytes, &r.peak_bytes);
      rows.push_back(r);
    }
    if (rank == 0) {
      std::printf("st-bench-dist: SimpleTRON classifier, N %lld, batch %lld, d %lld, %lld layers, %lld heads, %d "
                  "process(es); median of %lld steps (forward + backward + gradient sync)\n",
                  static_cast<long long>(o.n), static_cast<long long>(o.batch), static_cast<long long>(o.d),
                  static_cast<long long>(c.layers), static_cast<long long>(c.heads), P,
                  static_cast<long long>(o.steps));
      auto mib = [](int64_t b) { return static_cast<double>(b) / (1024.0 * 1024.0); };
      std::printf("| layout | step time | speed-up vs 1 process | peak MiB per rank |\n|---|---|---|---|\n");
      std::printf("| 1 process, 1 thread | %.3f s | %.2f | %.1f |\n", single1, single / single1, mib(peak1));
      std::printf("| 1 process, %d threads | %.3f s | 1.00 | %.1f |\n", P, single, mib(peak));
      for (const Row& r : rows) {
        if (r.skipped.empty())
          std::printf("| %d processes, DP %d x SP %d, 1 thread each | %.3f s | %.2f | %.1f |\n", P, r.dp, r.sp,
                      r.seconds, single / r.seconds, mib(r.peak_bytes));
        else
          std::printf("| %d processes, DP %d x SP %d | skipped: %s | | |\n", P, r.dp, r.sp, r.skipped.c_str());
      }
      if (!o.csv.empty()) {
        bool fresh = !std::filesystem::exists(o.csv);
        std::ofstream out(o.csv, std::ios::app);
        ST_CHECK(out.good(), "--csv ", o.csv, ": cannot open for writing");
        if (fresh)
          out << "processes,threads,dp,sp,n,d,batch,step_s,tokens_per_s,peak_bytes_per_rank,sp_bytes_per_rank,skipped\n";
        double tokens = static_cast<double>(o.batch * o.n);
        auto row = [&](int procs, int threads, int dp, int sp, double seconds, int64_t peak_bytes, int64_t sp_bytes,
                       std::string skipped) {
          std::replace(skipped.begin(), skipped.end(), ',', ';');
          std::replace(skipped.begin(), skipped.end(), '\n', ' ');
          out << procs << ',' << threads << ',' << dp << ',' << sp << ',' << o.n << ',' << o.d << ',' << o.batch << ','
              << seconds << ',' << (seconds > 0 ? tokens / seconds : 0) << ',' << peak_bytes << ',' << sp_bytes << ','
              << skipped << '\n';
        };
        row(1, 1, 1, 1, single1, peak1, 0, "");
        if (P > 1) row(1, P, 1, 1, single, peak, 0, "");
        for (const Row& r : rows) row(P, 1, r.dp, r.sp, r.seconds, r.peak_bytes, r.sp_bytes, r.skipped);
        out.flush();
        ST_CHECK(out.good(), "--csv ", o.csv, ": write failed");
      }
      const Row& sp_only = rows.back();  // dp 1 x sp P
      if (P > 1 && sp_only.skipped.empty()) {
        // All-gathering K and V (what Ring Attention / Ulysses-style SP moves): per layer, forward,
        // each rank sends its (B, N/P, d_qkv) K and V blocks to the P - 1 others; backward sends
        // the same amount again (dK, dV).
        int64_t kv_bytes = c.layers * 2 /*fwd+bwd*/ * 2 /*K,V*/ * o.batch * (o.n / P) * (P - 1) * c.qkv_dim() * 4;
        std::printf("\nSP attention traffic per step and rank (DP 1 x SP %d): %lld bytes (state all-reduces); an "
                    "all-gather of K and V would move %lld bytes (x%.0f)\n",
                    P, static_cast<long long>(sp_only.sp_bytes), static_cast<long long>(kv_bytes),
                    static_cast<double>(kv_bytes) / static_cast<double>(std::max<int64_t>(sp_only.sp_bytes, 1)));
      }
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "st-bench-dist: rank %d: %s\n", rank, e.what());
    if (P > 1) MPI_Abort(MPI_COMM_WORLD, 1);
    return 1;
  }
}
