// st-train on CUDA against st-train on the CPU (label cuda; every test skips with the reason when
// no CUDA device is visible): the same tiny configs from the same seed, compared step by step
// through metrics.jsonl and the final checkpoints. Also: checkpoints written on the GPU resume on
// the CPU (they are device-independent), Module::to round trips, and the host-staging
// communicator on device tensors.
//
// Tolerances (fp32 on both; cuBLAS runs with CUBLAS_DEFAULT_MATH, so no TF32): the backends sum in
// different orders (cuBLAS tiles, the CUDA reductions' blocking), so single ops agree to about
// 1e-6 relative (test_cuda_backend checks each at 1e-5). Measure: max |a - b| / max(1, max |b|),
// as in test_cuda_backend.
// - Loss of step 1 (the initial weights, identical on both devices): 1e-5.
// - Parameters after one step and the loss of step 2: 1e-5. AdamW's first update is
//   lr * g / (|g| + eps), which for eps -> 0 is lr * sign(g): a gradient that is zero up to
//   rounding could flip sign between devices and move a weight by 2 lr. The configs therefore use
//   optimizer.eps = 1e-3, which makes the update Lipschitz in g (|du/dg| <= lr / eps = 10), so a
//   gradient difference of ~1e-7 moves a weight by ~1e-6 at most.
// - After several steps: 1e-4. Each step adds its own rounding differences and feeds the previous
//   ones back through the gradients (and through AdamW's 1 / sqrt(v)); five steps at lr 0.01 keep
//   the growth well below a factor of 10, so 1e-4 still catches any real kernel difference (a wrong
//   kernel is off by 1e-2 or more).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/backend/backend.h"
#include "core/nn/model.h"
#include "data/shard.h"
#include "distributed/host_staging.h"
#include "launch/checkpoint.h"
#include "launch/config/schema.h"
#include "launch/trainer.h"
#include "tests/support/run_records.h"
#include "tests/data/temp_dir.h"

namespace st {
namespace {

using testing::TempDir;

#define ST_REQUIRE_CUDA()                                                                                     \
  do {                                                                                                        \
    if (cuda_device_count() == 0)                                                                             \
      GTEST_SKIP() << "no CUDA device: "                                                                      \
                   << (cuda_built() ? "none is visible to this process" : "this build has no CUDA support"); \
  } while (0)

const auto& rel_error = testing::run_rel_error;

// Labelled split (tokens 1..9, some padding at the end of every third row) or an LM split.
void write_data(const TempDir& dir, const std::string& name, int64_t n, bool lm) {
  ShardMeta m;
  m.task = lm ? "lm" : "toy";
  m.vocab_size = 10;
  m.num_classes = lm ? 0 : 3;
  m.seq_len = 12;
  ShardWriter w(dir.file(name + "-0.h5"), m, 16);
  std::vector<int32_t> in, lab;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < 12; ++j)
      in.push_back(i % 3 == 0 && j >= 9 ? 0 : static_cast<int32_t>((i * 7 + j * 3) % 9 + 1));
    lab.push_back(in[i * 12] % 3);
  }
  w.append(in, {}, lm ? std::vector<int32_t>{} : lab);
  w.close();
}

std::string config_text(const TempDir& dir, bool lm) {
  std::string model = lm ? "model:\n  task: lm\n  causal: true\n  chunk: 5\n" : "model:\n  task: classification\n";
  return "seed: 5\n" + model +
         "  d_model: 16\n  heads: 2\n  layers: 2\n  d_ff: 24\n  dropout: 0.1\n"
         "data:\n  train: " + dir.file("train-*.h5") + "\n  batch_size: 8\n  shuffle_buffer: 16\n  block_size: 8\n"
         "optimizer:\n  lr: 0.01\n  eps: 0.001\n  clip_norm: 0\n"
         "train:\n  steps: 5\n  log_every: 1\n";
}

RunResult train(TrainConfig cfg, const std::string& device, const std::string& run_dir, bool resume = false) {
  cfg.device = device;
  cfg.run_dir = run_dir;
  ProcessGrid grid(std::make_shared<LocalCommunicator>(), 1);
  TrainOptions options{resume, false, 0};
  options.allow_change = {"train.steps"};  // a run split in two resumes with more steps
  Trainer t(cfg, grid, options);
  return t.run();
}

using testing::checkpoint_params;
using testing::train_losses;

void expect_cuda_matches_cpu(bool lm) {
  TempDir dir;
  write_data(dir, "train", 40, lm);
  TrainConfig cfg = train_config_from_yaml(config_text(dir, lm), "test");
  // One step: parameters after the first update.
  TrainConfig one = cfg;
  one.train.steps = 1;
  train(one, "cpu", dir.file("cpu1"));
  train(one, "cuda", dir.file("cuda1"));
  EXPECT_LE(rel_error(checkpoint_params(step_checkpoint_path(dir.file("cuda1"), 1)),
                      checkpoint_params(step_checkpoint_path(dir.file("cpu1"), 1))),
            1e-5);
  // Five steps: every loss, then the final parameters.
  train(cfg, "cpu", dir.file("cpu"));
  train(cfg, "cuda", dir.file("cuda"));
  std::vector<double> lc = train_losses(dir.file("cpu")), lg = train_losses(dir.file("cuda"));
  ASSERT_EQ(lc.size(), 5u);
  ASSERT_EQ(lg.size(), 5u);
  for (size_t s = 0; s < lc.size(); ++s)
    EXPECT_LE(rel_error({lg[s]}, {lc[s]}), s < 2 ? 1e-5 : 1e-4) << "step " << s + 1 << ": cuda " << lg[s]
                                                                  << ", cpu " << lc[s];
  EXPECT_LE(rel_error(checkpoint_params(step_checkpoint_path(dir.file("cuda"), 5)),
                      checkpoint_params(step_checkpoint_path(dir.file("cpu"), 5))),
            1e-4);
  std::ifstream log(dir.file("cuda") + "/train.log");
  std::stringstream ss;
  ss << log.rdbuf();
  EXPECT_NE(ss.str().find("device: cuda -> cuda:0"), std::string::npos) << ss.str();
}

TEST(CudaTrain, ClassificationMatchesCpuFromTheSameSeed) {
  ST_REQUIRE_CUDA();
  expect_cuda_matches_cpu(false);
}

TEST(CudaTrain, CausalLanguageModelMatchesCpuFromTheSameSeed) {
  ST_REQUIRE_CUDA();
  expect_cuda_matches_cpu(true);
}

TEST(CudaTrain, CheckpointFromTheGpuResumesOnTheCpu) {
  ST_REQUIRE_CUDA();
  TempDir dir;
  write_data(dir, "train", 40, false);
  TrainConfig cfg = train_config_from_yaml(config_text(dir, false), "test");
  train(cfg, "cuda", dir.file("straight"));
  TrainConfig first = cfg;
  first.train.steps = 3;
  train(first, "cuda", dir.file("split"));
  train(cfg, "cpu", dir.file("split"), /*resume=*/true);  // steps 4..5 on the CPU
  EXPECT_LE(rel_error(checkpoint_params(step_checkpoint_path(dir.file("split"), 5)),
                      checkpoint_params(step_checkpoint_path(dir.file("straight"), 5))),
            1e-4);
}

TEST(CudaTrain, ModuleToMovesEveryParameterAndBack) {
  ST_REQUIRE_CUDA();
  ModelConfig m;
  m.vocab_size = 10;
  m.max_len = 12;
  m.num_classes = 3;
  m.d_model = 8;
  m.heads = 2;
  m.layers = 1;
  m.d_ff = 8;
  SimpleTronModel model(m);
  std::vector<std::vector<float>> before;
  for (auto& [n, p] : model.named_parameters()) before.push_back(p.to_vector<float>());
  model.to(Device::cuda(0));
  for (auto& [n, p] : model.named_parameters()) EXPECT_EQ(p.device(), Device::cuda(0)) << n;
  EXPECT_EQ(model.embed->tokens.device(), Device::cuda(0)) << "members share the parameters' storage";
  model.to(Device::cpu());
  size_t i = 0;
  for (auto& [n, p] : model.named_parameters()) {
    EXPECT_TRUE(p.device().is_cpu()) << n;
    EXPECT_EQ(p.to_vector<float>(), before[i++]) << n;
  }
}

TEST(CudaTrain, HostStagingCarriesDeviceTensorsThroughAHostCommunicator) {
  ST_REQUIRE_CUDA();
  HostStagingCommunicator c(std::make_shared<LocalCommunicator>());
  Tensor x = Tensor::from_vector<float>({1, 2, 3, 4}, {4}).to(Device::cuda(0));
  c.all_reduce_sum_async(x)->wait();
  EXPECT_EQ(x.device(), Device::cuda(0));
  EXPECT_EQ(x.to_vector<float>(), (std::vector<float>{1, 2, 3, 4}));
  Tensor out = Tensor::zeros({1, 4}, DType::F32, Device::cuda(0));
  c.all_gather(x, out);
  EXPECT_EQ(out.to_vector<float>(), (std::vector<float>{1, 2, 3, 4}));
  c.broadcast(x, 0);
  EXPECT_EQ(x.to_vector<float>(), (std::vector<float>{1, 2, 3, 4}));
}

}  // namespace
}  // namespace st
