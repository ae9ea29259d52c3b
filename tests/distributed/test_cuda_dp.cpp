// Under mpirun with 2 ranks (label cuda; skips with the reason when no CUDA device is visible):
// st-train on CUDA against the same run on the CPU, data parallel (dp = 2) and sequence parallel
// (sp = 2, non-causal and causal SimpleTRON). With one GPU per rank
// the gradients go through NCCL; with fewer GPUs than ranks (both ranks on cuda:0) through MPI
// with host staging; the log says which, and either must match the CPU run. Tolerances as in
// tests/launch/test_cuda_train.cpp (fp32 on both, optimizer.eps 1e-3): the first step's loss
// 1e-5, later losses and the final parameters 1e-4.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "core/backend/backend.h"
#include "data/shard.h"
#include "distributed/mpi_communicator.h"
#include "launch/checkpoint.h"
#include "launch/config/schema.h"
#include "launch/trainer.h"
#include "tests/support/run_records.h"
#include "tests/support/mpi_gtest.h"

namespace st {
namespace {

const auto& rel_error = testing::run_rel_error;

using testing::checkpoint_params;
using testing::train_losses;

// Trains the same config on the CPU and on CUDA over the 2 ranks of `world` with sequence
// parallelism `sp` (dp = 2 / sp) and compares losses and final parameters (rank 0). `lm`:
// language-model shards (the model must then be task lm). Returns rank 0's CUDA train.log.
std::string compare_cpu_and_cuda(const std::shared_ptr<Communicator>& world, int sp,
                                 const std::string& model_yaml, bool lm = false) {
  std::string dir = "/tmp/st-cuda-dp-" + std::to_string(::getppid()) + "-sp" + std::to_string(sp);
  if (world->rank() == 0) {
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    ShardMeta m;
    m.task = lm ? "lm" : "toy";
    m.vocab_size = 10;
    m.num_classes = lm ? 0 : 3;
    m.seq_len = 12;
    ShardWriter w(dir + "/train-0.h5", m, 8);
    std::vector<int32_t> in, lab;
    for (int i = 0; i < 48; ++i) {
      for (int j = 0; j < 12; ++j) in.push_back(i % 3 == 0 && j >= 9 ? 0 : (i * 7 + j * 3) % 9 + 1);
      lab.push_back(i % 3);
    }
    w.append(in, {}, lm ? std::vector<int32_t>{} : lab);
    w.close();
  }
  world->barrier();
  TrainConfig cfg = train_config_from_yaml(
      "seed: 7\nmodel: " + model_yaml + "\n"
      "data: {train: " + dir + "/train-*.h5, batch_size: 8, shuffle_buffer: 8, block_size: 8}\n"
      "optimizer: {lr: 0.01, eps: 0.001, clip_norm: 0}\n"
      "train: {steps: 4, log_every: 1}\n",
      "test");
  for (const char* device : {"cpu", "cuda"}) {
    TrainConfig c = cfg;
    c.device = device;
    c.run_dir = dir + "/" + device;
    ProcessGrid grid(world, sp);
    TrainOptions o;
    o.local_rank = world->rank();
    Trainer(c, grid, o).run();
    world->barrier();
  }
  std::string log_text;
  if (world->rank() == 0) {
    std::vector<double> lc = train_losses(dir + "/cpu"), lg = train_losses(dir + "/cuda");
    EXPECT_EQ(lc.size(), 4u);
    EXPECT_EQ(lg.size(), 4u);
    for (size_t s = 0; s < lc.size() && s < lg.size(); ++s)
      EXPECT_LE(rel_error({lg[s]}, {lc[s]}), s == 0 ? 1e-5 : 1e-4) << "step " << s + 1;
    EXPECT_LE(rel_error(checkpoint_params(step_checkpoint_path(dir + "/cuda", 4)),
                        checkpoint_params(step_checkpoint_path(dir + "/cpu", 4))),
              1e-4);
    std::ifstream log(dir + "/cuda/train.log");
    std::stringstream ss;
    ss << log.rdbuf();
    log_text = ss.str();
    std::filesystem::remove_all(dir);
  }
  world->barrier();
  return log_text;
}

#define ST_REQUIRE_CUDA_RANKS(world)                                                             \
  do {                                                                                           \
    if (cuda_device_count() == 0)                                                                \
      GTEST_SKIP() << "no CUDA device: "                                                         \
                   << (cuda_built() ? "none is visible to this process" : "this build has no CUDA support"); \
    ASSERT_EQ(world->size(), 2) << "run with mpirun -np 2";                                      \
  } while (0)

TEST(CudaDataParallel, TwoRanksOnCudaMatchTwoRanksOnCpu) {
  auto world = MpiCommunicator::world(120.0);
  ST_REQUIRE_CUDA_RANKS(world);
  std::string log = compare_cpu_and_cuda(world, 1, "{d_model: 16, heads: 2, layers: 2, d_ff: 24, dropout: 0.1}");
  if (world->rank() == 0) {
    bool nccl = log.find("gradient all-reduce: nccl") != std::string::npos;
    bool staged = log.find("gradient all-reduce: mpi with host staging") != std::string::npos;
    EXPECT_TRUE(nccl || staged) << log;
    std::printf("cuda data parallel: gradients through %s\n", nccl ? "nccl" : "mpi with host staging");
  }
}

// sp = 2: each rank holds half of every sequence; the (B, H, d_h, d_h) states are all-reduced
// (non-causal) or prefix-summed (causal) through NCCL with a GPU per rank, else through MPI with
// host staging (both ranks on one GPU); the log says which.
TEST(CudaSequenceParallel, TwoRanksOnCudaMatchTwoRanksOnCpu) {
  auto world = MpiCommunicator::world(120.0);
  ST_REQUIRE_CUDA_RANKS(world);
  for (bool lm : {false, true}) {
    std::string model = lm ? "{task: lm, causal: true, chunk: 4, d_model: 16, heads: 2, layers: 2, d_ff: 24, dropout: 0.1}"
                           : "{d_model: 16, heads: 2, layers: 2, d_ff: 24, dropout: 0.1}";
    std::string log = compare_cpu_and_cuda(world, 2, model, lm);
    if (world->rank() == 0) {
      bool nccl = log.find("sequence-parallel collectives (states of B x H x d_h^2 values per layer): nccl") !=
                  std::string::npos;
      bool staged = log.find("sequence-parallel collectives (states of B x H x d_h^2 values per layer): mpi with "
                             "host staging") != std::string::npos;
      EXPECT_TRUE(nccl || staged) << log;
      std::printf("cuda sequence parallel: states through %s\n", nccl ? "nccl" : "mpi with host staging");
    }
  }
}

}  // namespace
}  // namespace st

int main(int argc, char** argv) {
  st::MpiEnvironment env(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  return st::testing::run_all_tests_on_every_rank();
}
