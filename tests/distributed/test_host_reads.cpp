// Host reads per training step (core/tensor/host_reads.h), counted on the CPU as if it were a
// device: st-train's steady-state step for classification, retrieval and a causal language
// model, with 1 process, and under mpirun with dp = 2 (--sp=1) or sp = 2 (--sp=2). Two runs that
// differ only in their number of steps give the reads of the steps between them: set-up, the
// final checkpoint and the last step's log line are the same in both and cancel. Classification
// also with the optimizer state sharded (distributed.zero 1). Labels cpu
// (1 process) and mpi (2 ranks).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>

#include "core/tensor/host_reads.h"
#include "data/shard.h"
#include "distributed/mpi_communicator.h"
#include "launch/config/schema.h"
#include "launch/trainer.h"
#include "tests/support/mpi_gtest.h"

namespace st {
namespace {

int g_sp = 1;

// The most host reads one optimizer step makes in steady state (no evaluation, checkpoint or
// log line in it): the step's one combined read (docs/design.md, "Host reads").
constexpr double kMaxReadsPerStep = 1;

struct Task {
  const char* name;
  const char* model_yaml;  // the model: section's extra keys
  bool pair, lm;
  const char* extra_yaml = "";  // further top-level keys
};

void write_shards(const std::string& dir, const Task& task) {
  ShardMeta m;
  m.task = task.lm ? "lm" : task.pair ? "retrieval" : "toy";
  m.vocab_size = 12;
  m.num_classes = task.lm ? 0 : task.pair ? 2 : 3;
  m.seq_len = 16;
  m.pair = task.pair;
  ShardWriter w(dir + "/train-0.h5", m, 16);
  std::vector<int32_t> in, in2, lab;
  for (int i = 0; i < 64; ++i) {
    int len = 10 + i % 7;  // some padding in most examples
    for (int j = 0; j < 16; ++j) {
      in.push_back(j < len ? (i * 5 + j * 3) % 11 + 1 : 0);
      if (task.pair) in2.push_back(j < len + 1 ? (i * 3 + j * 7) % 11 + 1 : 0);
    }
    if (!task.lm) lab.push_back(i % static_cast<int>(m.num_classes));
  }
  w.append(in, in2, lab);
  w.close();
}

// Host reads of one Trainer run of `steps` steps on this rank.
int64_t reads_of_run(const TrainConfig& base, std::shared_ptr<Communicator> world, int64_t steps) {
  TrainConfig cfg = base;
  cfg.train.steps = steps;
  if (world->rank() == 0) std::filesystem::remove_all(cfg.run_dir);
  world->barrier();
  ProcessGrid grid(world, g_sp);
  int64_t before = host_read_count();
  Trainer(cfg, grid, TrainOptions{}).run();
  int64_t reads = host_read_count() - before;
  world->barrier();
  return reads;
}

void check_task(const Task& task) {
  auto world = MpiCommunicator::world(120.0);
  std::string dir = "/tmp/st-host-reads-" + std::to_string(world->size() > 1 ? ::getppid() : ::getpid()) +
                    "-" + task.name;
  if (world->rank() == 0) {
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    write_shards(dir, task);
  }
  world->barrier();
  TrainConfig cfg = train_config_from_yaml(
      "run_dir: " + dir + "/run\nthreads: 1\nmodel: {d_model: 16, heads: 2, layers: 2, d_ff: 16, " +
          task.model_yaml + "}\ndata: {train: " + dir + "/train-*.h5, batch_size: 8, shuffle_buffer: 8, block_size: 8}\n"
          "optimizer: {warmup: 1}\ntrain: {log_every: 1000, eval_every: 0, checkpoint_every: 0}\n" +
          task.extra_yaml,
      "host-reads test");
  const int64_t short_run = 3, long_run = 7;
  int64_t a = reads_of_run(cfg, world, short_run), b = reads_of_run(cfg, world, long_run);
  double per_step = static_cast<double>(b - a) / static_cast<double>(long_run - short_run);
  int dp = world->size() / g_sp;
  if (world->rank() == 0)
    std::printf("host reads per step, %s, dp %d x sp %d: %.2f (runs of %lld and %lld steps: %lld and %lld reads)\n",
                task.name, dp, g_sp, per_step, static_cast<long long>(short_run), static_cast<long long>(long_run),
                static_cast<long long>(a), static_cast<long long>(b));
  EXPECT_GT(per_step, 0) << "a training step that reads nothing back: the counter is not counting";
  EXPECT_LE(per_step, kMaxReadsPerStep) << task.name;
  world->barrier();
  if (world->rank() == 0) std::filesystem::remove_all(dir);
}

TEST(HostReads, Classification) { check_task({"classification", "task: classification", false, false}); }

TEST(HostReads, Retrieval) { check_task({"retrieval", "task: retrieval", true, false}); }

// ZeRO-1: the sharded gradient norm is all-reduced on the device and read with the rest.
TEST(HostReads, ClassificationShardedOptimizer) {
  check_task({"classification-zero1", "task: classification", false, false, "distributed: {zero: 1}\n"});
}

TEST(HostReads, CausalLanguageModel) { check_task({"lm", "task: lm, causal: true, chunk: 4", false, true}); }

}  // namespace
}  // namespace st

int main(int argc, char** argv) {
  st::MpiEnvironment env(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  st::g_sp = st::testing::sp_argument(argc, argv, st::g_sp);
  return st::testing::run_all_tests_on_every_rank();
}
