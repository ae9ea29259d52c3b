// Device choice for st-train, on any machine: every branch of choose_device (cpu, cuda, auto;
// with and without a CUDA build and visible devices; local rank modulo the device count), the
// launcher's local-rank variables, and the errors a run gets when it asks for what it cannot
// have (device: cuda without a GPU, an unknown precision) naming the key before any work; and
// precision: bf16 on cpu, which emulates the bf16 products. Also the
// host-staging communicator's pass-through of host tensors and Module::to on the same device.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/backend/backend.h"
#include "core/nn/model.h"
#include "distributed/host_staging.h"
#include "launch/config/schema.h"
#include "launch/device.h"
#include "launch/trainer.h"
#include "tests/data/temp_dir.h"
#include "tests/support/toy_split.h"
#include "tests/support/expect_error.h"
#include "tests/support/run_records.h"

namespace st {
namespace {

using testing::expect_error;
using testing::TempDir;

TEST(DeviceChoice, CpuIsCpuWhateverIsThere) {
  for (bool built : {false, true})
    for (int visible : {0, 1, 8}) {
      DeviceChoice c = choose_device("cpu", built, visible, 3);
      EXPECT_EQ(c.device, Device::cpu());
      EXPECT_NE(c.reason.find("cpu"), std::string::npos);
    }
}

TEST(DeviceChoice, CudaTakesLocalRankModuloVisibleDevices) {
  EXPECT_EQ(choose_device("cuda", true, 1, 0).device, Device::cuda(0));
  EXPECT_EQ(choose_device("cuda", true, 1, 7).device, Device::cuda(0));
  EXPECT_EQ(choose_device("cuda", true, 8, 5).device, Device::cuda(5));
  EXPECT_EQ(choose_device("cuda", true, 8, 13).device, Device::cuda(5));
  EXPECT_EQ(choose_device("cuda", true, 3, 7).device, Device::cuda(1));
  DeviceChoice c = choose_device("cuda", true, 4, 6);
  EXPECT_NE(c.reason.find("cuda:2"), std::string::npos) << c.reason;
  EXPECT_NE(c.reason.find("local rank 6"), std::string::npos) << c.reason;
}

TEST(DeviceChoice, CudaWithoutAGpuOrWithoutCudaBuildNamesTheKey) {
  expect_error([] { choose_device("cuda", true, 0, 0); },
               {"device: cuda", "no CUDA device is visible", "device: cpu"});
  expect_error([] { choose_device("cuda", false, 0, 0); },
               {"device: cuda", "this build has no CUDA backend", "ST_CUDA=ON"});
  expect_error([] { choose_device("cuda", false, 2, 0); }, {"device: cuda", "no CUDA backend"});
  expect_error([] { choose_device("gpu", true, 1, 0); }, {"device: unknown value 'gpu'"});
}

TEST(DeviceChoice, AutoPicksCudaOnlyWhenBuiltAndVisible) {
  DeviceChoice none = choose_device("auto", true, 0, 0);
  EXPECT_EQ(none.device, Device::cpu());
  EXPECT_NE(none.reason.find("auto -> cpu"), std::string::npos) << none.reason;
  EXPECT_NE(none.reason.find("no CUDA device is visible"), std::string::npos) << none.reason;
  DeviceChoice unbuilt = choose_device("auto", false, 4, 0);
  EXPECT_EQ(unbuilt.device, Device::cpu());
  EXPECT_NE(unbuilt.reason.find("no CUDA backend"), std::string::npos) << unbuilt.reason;
  DeviceChoice gpu = choose_device("auto", true, 2, 3);
  EXPECT_EQ(gpu.device, Device::cuda(1));
  EXPECT_NE(gpu.reason.find("auto -> cuda:1"), std::string::npos) << gpu.reason;
}

// Sets an environment variable for the scope, restoring the previous state after.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    const char* old = std::getenv(name);
    had_ = old != nullptr;
    if (had_) old_ = old;
    if (value) setenv(name, value, 1);
    else unsetenv(name);
  }
  ~ScopedEnv() {
    if (had_) setenv(name_, old_.c_str(), 1);
    else unsetenv(name_);
  }

 private:
  const char* name_;
  bool had_ = false;
  std::string old_;
};

TEST(DeviceChoice, LocalRankComesFromTheLauncherEnvironment) {
  ScopedEnv a("OMPI_COMM_WORLD_LOCAL_RANK", nullptr), b("SLURM_LOCALID", nullptr), c("MPI_LOCALRANKID", nullptr),
      d("LOCAL_RANK", nullptr);
  EXPECT_EQ(local_rank_from_env(), -1);
  {
    ScopedEnv s("SLURM_LOCALID", "3");
    EXPECT_EQ(local_rank_from_env(), 3);
    ScopedEnv o("OMPI_COMM_WORLD_LOCAL_RANK", "1");  // Open MPI's variable comes first
    EXPECT_EQ(local_rank_from_env(), 1);
  }
  ScopedEnv bad("LOCAL_RANK", "x1");
  EXPECT_EQ(local_rank_from_env(), -1) << "a value that is not a number is ignored";
  ScopedEnv neg("MPI_LOCALRANKID", "-2");
  EXPECT_EQ(local_rank_from_env(), -1);
}

// A tiny labelled split and a config that trains on it.
void write_data(const TempDir& dir, const std::string& name, int64_t n) { testing::write_toy_split(dir.file(name), n); }

TrainConfig tiny_config(const TempDir& dir, const std::string& extra) {
  return train_config_from_yaml("run_dir: " + dir.file("run") + "\nseed: 3\n" + extra +
                                    "model:\n  d_model: 16\n  heads: 2\n  layers: 1\n  d_ff: 24\n"
                                    "data:\n  train: " + dir.file("train-*.h5") +
                                    "\n  batch_size: 8\n  shuffle_buffer: 16\n  block_size: 8\n"
                                    "train:\n  steps: 2\n  log_every: 1\n",
                                "test");
}

RunResult train(const TrainConfig& cfg) {
  ProcessGrid grid(std::make_shared<LocalCommunicator>(), 1);
  Trainer t(cfg, grid, TrainOptions{});
  return t.run();
}

TEST(DeviceChoice, TrainingOnCudaWithoutAGpuIsAClearErrorBeforeAnyWork) {
  if (cuda_device_count() > 0) GTEST_SKIP() << "a CUDA device is visible: the cuda tests train on it";
  TempDir dir;
  write_data(dir, "train", 24);
  TrainConfig c = tiny_config(dir, "device: cuda\n");
  expect_error([&] { train(c); }, {"device: cuda", cuda_built() ? "no CUDA device is visible" : "no CUDA backend"});
  EXPECT_FALSE(std::filesystem::exists(dir.file("run"))) << "nothing is written before the device is known";
}

TEST(DeviceChoice, AutoTrainsOnCpuWithoutAGpuAndSaysSo) {
  if (cuda_device_count() > 0) GTEST_SKIP() << "a CUDA device is visible: auto picks cuda";
  TempDir dir;
  write_data(dir, "train", 24);
  TrainConfig c = tiny_config(dir, "device: auto\n");
  RunResult r = train(c);
  EXPECT_EQ(r.steps_done, 2);
  std::ifstream in(dir.file("run") + "/train.log");
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_NE(ss.str().find("device: auto -> cpu"), std::string::npos) << ss.str();
}

TEST(Precision, Bf16OnCpuEmulatesBf16ProductsAndFp32IsTheDefault) {
  TempDir dir;
  write_data(dir, "train", 24);
  EXPECT_EQ(tiny_config(dir, "").precision, "fp32");
  EXPECT_NE(to_yaml(tiny_config(dir, "")).find("\nprecision: fp32\n"), std::string::npos);
  expect_error([&] { tiny_config(dir, "precision: fp16\n"); }, {"precision", "unknown value 'fp16'", "fp32, bf16"});

  std::vector<std::vector<double>> losses;
  for (const char* p : {"fp32", "bf16", "bf16"}) {
    TempDir run;
    write_data(run, "train", 24);
    TrainConfig c = tiny_config(run, std::string("device: cpu\nprecision: ") + p + "\n");
    c.train.steps = 4;
    EXPECT_EQ(train(c).steps_done, 4);
    losses.push_back(testing::train_losses(c.run_dir));
    std::ifstream in(c.run_dir + "/train.log");
    std::stringstream ss;
    ss << in.rdbuf();
    EXPECT_EQ(ss.str().find("precision: bf16 on cpu") != std::string::npos, std::string(p) == "bf16") << ss.str();
  }
  ASSERT_EQ(losses[0].size(), 4u);
  EXPECT_EQ(losses[1], losses[2]) << "bf16 runs are deterministic";
  // bf16 operands carry 8 significant bits (relative rounding <= 2^-9): the losses of this
  // one-layer model differ from fp32 at that level, not more and not zero.
  double err = testing::run_rel_error(losses[1], losses[0]);
  EXPECT_GT(err, 0.0) << "bf16 products must round their operands";
  EXPECT_LT(err, 2e-2);
}

TEST(HostStaging, HostTensorsPassStraightThrough) {
  HostStagingCommunicator c(std::make_shared<LocalCommunicator>());
  EXPECT_EQ(c.size(), 1);
  EXPECT_EQ(c.name(), "local+host-staging");
  Tensor x = Tensor::from_vector<float>({1, 2, 3}, {3});
  c.all_reduce_sum_async(x)->wait();
  EXPECT_EQ(x.to_vector<float>(), (std::vector<float>{1, 2, 3}));
  Tensor out = Tensor::zeros({1, 3});
  c.all_gather(x, out);
  EXPECT_EQ(out.to_vector<float>(), (std::vector<float>{1, 2, 3}));
  EXPECT_EQ(c.split(0, 0)->name(), "local+host-staging");
}

TEST(ModuleTo, SameDeviceIsANoOpThatKeepsTheStorage) {
  ModelConfig m;
  m.vocab_size = 10;
  m.max_len = 12;
  m.num_classes = 3;
  m.d_model = 8;
  m.heads = 2;
  m.layers = 1;
  m.d_ff = 8;
  SimpleTronModel model(m);
  std::vector<const void*> before;
  for (auto& [n, p] : model.named_parameters()) before.push_back(p.raw_data());
  model.to(Device::cpu());
  size_t i = 0;
  for (auto& [n, p] : model.named_parameters()) EXPECT_EQ(p.raw_data(), before[i++]) << n;
}

}  // namespace
}  // namespace st
