// Under mpirun (label mpi). With 2 ranks: a run checkpointed with dp = 2 resumes with dp = 1 and
// continues after the same examples (the loader cursor is converted through examples consumed).
// With 4 ranks: a checkpoint does not depend on how the optimizer state was sharded. Saved at
// dp = 4 with distributed.zero 1, it holds what dp = 4 with zero 0 saves, and resumes at dp = 2
// with zero 0 (and with zero 1) to what the unsharded checkpoint resumes to.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "tests/support/mpi_gtest.h"
#include "data/shard.h"
#include "distributed/mpi_communicator.h"
#include "launch/checkpoint.h"
#include "launch/config/schema.h"
#include "launch/trainer.h"

namespace st {
namespace {

// Rank 0 writes a classification shard of 40 sequences of 12 tokens into dir (made empty).
void write_toy_shard(Communicator& world, const std::string& dir) {
  if (world.rank() == 0) {
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    ShardMeta m;
    m.task = "toy";
    m.vocab_size = 10;
    m.num_classes = 3;
    m.seq_len = 12;
    ShardWriter w(dir + "/train-0.h5", m, 8);
    std::vector<int32_t> in, lab;
    for (int i = 0; i < 40; ++i) {
      for (int j = 0; j < 12; ++j) in.push_back((i * 7 + j * 3) % 9 + 1);
      lab.push_back(i % 3);
    }
    w.append(in, {}, lab);
    w.close();
  }
  world.barrier();
}

TEST(ResumeLayout, DataParallelTwoToOne) {
  auto world = MpiCommunicator::world(120.0);
  ASSERT_EQ(world->size(), 2) << "run with mpirun -np 2";
  std::string dir = "/tmp/st-resume-layout-" + std::to_string(::getppid());
  write_toy_shard(*world, dir);
  TrainConfig cfg = train_config_from_yaml(
      "run_dir: " + dir + "/run\nmodel: {d_model: 16, heads: 2, layers: 1, d_ff: 16}\n"
      "data: {train: " + dir + "/train-*.h5, batch_size: 8, shuffle_buffer: 8, block_size: 8}\n"
      "train: {steps: 2, log_every: 1}\n",
      "test");
  {
    ProcessGrid grid(world, 1);  // dp 2, micro-batch 4
    Trainer(cfg, grid, TrainOptions{}).run();
  }
  world->barrier();
  if (world->rank() == 0) {
    CheckpointState two = load_checkpoint(step_checkpoint_path(cfg.run_dir, 2), nullptr, nullptr);
    EXPECT_EQ(two.loader_dp, 2);
    EXPECT_EQ(two.loader_micro_batch, 4);
    EXPECT_EQ(two.cursor.position, 2);  // 2 batches of 4 per rank = 16 examples
    cfg.train.steps = 4;
    ProcessGrid solo(std::make_shared<LocalCommunicator>(), 1);  // dp 1, micro-batch 8
    TrainOptions resume{true, false};
    resume.allow_change = {"train.steps"};
    RunResult r = Trainer(cfg, solo, resume).run();
    EXPECT_EQ(r.steps_done, 4);
    CheckpointState four = load_checkpoint(step_checkpoint_path(cfg.run_dir, 4), nullptr, nullptr);
    EXPECT_EQ(four.loader_dp, 1);
    EXPECT_EQ(four.loader_micro_batch, 8);
    EXPECT_EQ(four.cursor.position, 4);  // resumed after 16 examples = batch 2 of 8, then 2 more
    EXPECT_EQ(four.step, 4);
    std::filesystem::remove_all(dir);
  }
  world->barrier();
}

// A checkpoint's parameters and moments, read back.
struct Saved {
  std::vector<Tensor> params;
  AdamWState moments;
  CheckpointState state;
};
Saved read_saved(const std::string& path) {
  Saved s;
  s.state = load_checkpoint(path, nullptr, nullptr);
  SimpleTronModel m(train_config_from_yaml(s.state.config_yaml, path).model);
  load_checkpoint(path, &m, &s.moments);
  s.params = m.parameters();
  return s;
}

// max |a - b| / max |b| over every parameter and both moments.
double checkpoint_error(const Saved& a, const Saved& b) {
  double diff = 0, scale = 0;
  auto add = [&](const std::vector<Tensor>& x, const std::vector<Tensor>& y) {
    EXPECT_EQ(x.size(), y.size());
    for (size_t k = 0; k < std::min(x.size(), y.size()); ++k) {
      auto u = x[k].to_vector<double>(), v = y[k].to_vector<double>();
      EXPECT_EQ(u.size(), v.size());
      for (size_t i = 0; i < std::min(u.size(), v.size()); ++i) {
        diff = std::max(diff, std::fabs(u[i] - v[i]));
        scale = std::max(scale, std::fabs(v[i]));
      }
    }
  };
  add(a.params, b.params);
  add(a.moments.m, b.moments.m);
  add(a.moments.v, b.moments.v);
  return diff / scale;
}

TEST(Zero1Checkpoint, SavedShardedAtDp4ResumesUnshardedAtDp2) {
  auto world = MpiCommunicator::world(120.0);
  ASSERT_EQ(world->size(), 4) << "run with mpirun -np 4";
  std::string dir = "/tmp/st-zero1-resume-" + std::to_string(::getppid());
  write_toy_shard(*world, dir);
  auto config = [&](const std::string& run, int zero, int64_t steps) {
    TrainConfig cfg = train_config_from_yaml(
        "run_dir: " + dir + "/" + run + "\nmodel: {d_model: 16, heads: 2, layers: 1, d_ff: 16}\n"
        "data: {train: " + dir + "/train-*.h5, batch_size: 8, shuffle_buffer: 8, block_size: 8}\n"
        "train: {steps: " + std::to_string(steps) + ", log_every: 1}\n"
        "optimizer: {clip_norm: 0.05}\n"
        "distributed: {zero: " + std::to_string(zero) + ", bucket_mb: 0.001}\n",
        "test");
    return cfg;
  };
  {
    ProcessGrid grid(world, 1);  // dp 4, micro-batch 2
    Trainer(config("sharded", 1, 2), grid, TrainOptions{}).run();
    Trainer(config("whole", 0, 2), grid, TrainOptions{}).run();
  }
  if (world->rank() == 0) {
    std::filesystem::copy(dir + "/sharded", dir + "/sharded-again", std::filesystem::copy_options::recursive);
    Saved sharded = read_saved(step_checkpoint_path(dir + "/sharded", 2));
    Saved whole = read_saved(step_checkpoint_path(dir + "/whole", 2));
    EXPECT_EQ(sharded.moments.step, 2);
    EXPECT_EQ(sharded.state.loader_dp, 4);
    double e = checkpoint_error(sharded, whole);
    EXPECT_LE(e, 1e-6) << "step-2 checkpoints of zero 1 and zero 0 at dp 4";
    std::printf("[ zero1 checkpoint ] dp 4: zero 1 vs zero 0 at step 2: %.1e\n", e);
  }
  world->barrier();
  // Ranks 0 and 1 resume each checkpoint at dp 2 (the sharded one both unsharded and sharded).
  auto pair = world->split(world->rank() < 2 ? 0 : 1, world->rank());
  if (world->rank() < 2) {
    ProcessGrid grid(pair, 1);
    TrainOptions resume{true, false};
    resume.allow_change = {"train.steps"};  // distributed.zero may change freely
    RunResult a = Trainer(config("sharded", 0, 4), grid, resume).run();
    RunResult b = Trainer(config("whole", 0, 4), grid, resume).run();
    RunResult c = Trainer(config("sharded-again", 1, 4), grid, resume).run();
    EXPECT_EQ(a.steps_done, 4);
    EXPECT_EQ(c.steps_done, 4);
    EXPECT_EQ(c.optimizer_bytes.size(), 2u);
    if (pair->rank() == 0) {
      Saved from_sharded = read_saved(step_checkpoint_path(dir + "/sharded", 4));
      Saved from_whole = read_saved(step_checkpoint_path(dir + "/whole", 4));
      Saved sharded_again = read_saved(step_checkpoint_path(dir + "/sharded-again", 4));
      EXPECT_EQ(from_sharded.moments.step, 4);
      EXPECT_EQ(from_sharded.state.loader_dp, 2);
      double e1 = checkpoint_error(from_sharded, from_whole), e2 = checkpoint_error(sharded_again, from_whole);
      EXPECT_LE(e1, 1e-6) << "resumed at dp 2 zero 0 from a zero 1 checkpoint";
      EXPECT_LE(e2, 1e-6) << "resumed at dp 2 zero 1 from a zero 1 checkpoint";
      std::printf("[ zero1 checkpoint ] resumed at dp 2 to step 4, against the unsharded run: zero 0 %.1e, zero 1 %.1e\n",
                  e1, e2);
    }
  }
  world->barrier();
  if (world->rank() == 0) std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace st

int main(int argc, char** argv) {
  st::MpiEnvironment env(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  return st::testing::run_all_tests_on_every_rank();
}
