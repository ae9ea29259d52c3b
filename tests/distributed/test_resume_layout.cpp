// Under mpirun with 2 ranks (label mpi): a run checkpointed with dp = 2 resumes with dp = 1 and
// continues after the same examples (the loader cursor is converted through examples consumed).
#include <gtest/gtest.h>

#include <filesystem>

#include "tests/support/mpi_gtest.h"
#include "data/shard.h"
#include "distributed/mpi_communicator.h"
#include "launch/checkpoint.h"
#include "launch/config/schema.h"
#include "launch/trainer.h"

namespace st {
namespace {

TEST(ResumeLayout, DataParallelTwoToOne) {
  auto world = MpiCommunicator::world(120.0);
  ASSERT_EQ(world->size(), 2) << "run with mpirun -np 2";
  std::string dir = "/tmp/st-resume-layout-" + std::to_string(::getppid());
  if (world->rank() == 0) {
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
  world->barrier();
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
    RunResult r = Trainer(cfg, solo, TrainOptions{true, false}).run();
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

}  // namespace
}  // namespace st

int main(int argc, char** argv) {
  st::MpiEnvironment env(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  return st::testing::run_all_tests_on_every_rank();
}
