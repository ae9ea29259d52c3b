// st-bench-dist: training-step time of a SimpleTRON classifier at long N on 1 process against
// 2 processes under data parallelism (each half the batch) and under sequence parallelism
// (each half the sequence), on the same cores; and the bytes SP attention moves per step
// against what an all-gather of K and V (Ring Attention / Ulysses-style) would move.
// Run with exactly 2 ranks:  mpirun -np 2 build/bench/st-bench-dist [--n 16384] [--steps 3]
#include <chrono>
#include <cstdio>
#include <string>

#include "core/nn/model.h"
#include "distributed/data_parallel.h"
#include "distributed/mpi_communicator.h"
#include "distributed/parallel_loss.h"
#include "core/build_info.h"

namespace {

using namespace st;

struct Options {
  int64_t n = 16384, batch = 2, steps = 3;
  int64_t d = 128, heads = 4, layers = 2, d_ff = 256;
};

ModelConfig model_config(const Options& o) {
  ModelConfig c;
  c.vocab_size = 256;
  c.max_len = o.n;
  c.num_classes = 10;
  c.d_model = o.d;
  c.heads = o.heads;
  c.layers = o.layers;
  c.d_ff = o.d_ff;
  c.dropout = 0.1f;
  return c;
}

// Seconds per step (median of o.steps after one warm-up) on the grid's layout.
double time_steps(const Options& o, ProcessGrid& grid, int64_t* sp_bytes) {
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
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  if (st::print_version_if_asked(argc, argv, "st-bench-dist")) return 0;
  MpiEnvironment env(&argc, &argv);
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    int64_t v = std::stoll(argv[i + 1]);
    if (k == "--n") o.n = v;
    else if (k == "--steps") o.steps = v;
    else if (k == "--batch") o.batch = v;
    else if (k == "--d") o.d = v;
    else {
      std::fprintf(stderr, "st-bench-dist: unknown option %s\n", k.c_str());
      return 2;
    }
  }
  auto world = MpiCommunicator::world(3600.0);
  if (world->size() != 2) {
    if (world->rank() == 0) std::fprintf(stderr, "st-bench-dist: run with exactly 2 ranks (mpirun -np 2)\n");
    return 2;
  }
  int rank = world->rank();
  // 1 process with 1 and with 2 threads: rank 0 alone on a local communicator; rank 1 waits.
  double single1 = 0, single = 0;
  int64_t bytes = 0;
  if (rank == 0) {
    ProcessGrid solo(std::make_shared<LocalCommunicator>(), 1);
    set_num_threads(1);
    single1 = time_steps(o, solo, &bytes);
    set_num_threads(2);
    single = time_steps(o, solo, &bytes);
  }
  world->barrier();
  set_num_threads(1);
  ProcessGrid dp(world, 1), sp(world, 2);
  int64_t dp_bytes = 0, sp_bytes = 0;
  double t_dp = time_steps(o, dp, &dp_bytes);
  double t_sp = time_steps(o, sp, &sp_bytes);
  if (rank == 0) {
    ModelConfig c = model_config(o);
    // All-gathering K and V (what Ring Attention / Ulysses-style SP moves): per layer, forward,
    // each rank sends its (B, N/P, d_qkv) K and V blocks to the other rank; backward sends the
    // same amount again (dK, dV).
    int64_t kv_bytes = c.layers * 2 /*fwd+bwd*/ * 2 /*K,V*/ * o.batch * (o.n / 2) * c.qkv_dim() * 4;
    std::printf("st-bench-dist: SimpleTRON classifier, N %lld, batch %lld, d %lld, %lld layers, %lld heads; "
                "median of %lld steps (forward + backward + gradient sync)\n",
                static_cast<long long>(o.n), static_cast<long long>(o.batch), static_cast<long long>(o.d),
                static_cast<long long>(c.layers), static_cast<long long>(c.heads), static_cast<long long>(o.steps));
    std::printf("| layout | step time | speed-up vs 1 process |\n|---|---|---|\n");
    std::printf("| 1 process, 1 thread | %.3f s | %.2f |\n", single1, single / single1);
    std::printf("| 1 process, 2 threads | %.3f s | 1.00 |\n", single);
    std::printf("| 2 processes, DP 2 x SP 1, 1 thread each | %.3f s | %.2f |\n", t_dp, single / t_dp);
    std::printf("| 2 processes, DP 1 x SP 2, 1 thread each | %.3f s | %.2f |\n", t_sp, single / t_sp);
    std::printf("\nSP attention traffic per step and rank: %lld bytes (state all-reduces); an all-gather "
                "of K and V would move %lld bytes (x%.0f)\n",
                static_cast<long long>(sp_bytes), static_cast<long long>(kv_bytes),
                static_cast<double>(kv_bytes) / static_cast<double>(std::max<int64_t>(sp_bytes, 1)));
  }
  return 0;
}
