// The train values st-train logs, against hand computations: over a log window the loss and
// gradient norm are the means of the window's step values and the accuracy is the metric over
// all its targets (a run logging every step against the same run logging every 5); the real
// tokens of one epoch are the data's non-padding ids, counted by hand; the padded count is
// batch x seq_len per step; the step's phases, mfu against a configured peak, the allocator's
// peak; the trace of chosen steps; language models add perplexity and bits per byte.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <map>

#include "core/nn/flops.h"
#include "data/shard.h"
#include "launch/config/schema.h"
#include "launch/trainer.h"
#include "tests/data/temp_dir.h"

namespace st {
namespace {

using testing::TempDir;

constexpr int64_t kLen = 12;

// n examples of 3..11 real tokens followed by padding; label = first token % 3. Returns the
// count of real tokens.
int64_t write_ragged_split(const std::string& path, int64_t n) {
  ShardMeta m;
  m.task = "toy";
  m.vocab_size = 10;
  m.num_classes = 3;
  m.seq_len = kLen;
  ShardWriter w(path, m, 16);
  std::vector<int32_t> in, lab;
  int64_t real = 0;
  for (int64_t i = 0; i < n; ++i) {
    int64_t length = 3 + (i * 5) % 9;
    for (int64_t j = 0; j < kLen; ++j) in.push_back(j < length ? static_cast<int32_t>((i * 7 + j * 3) % 9 + 1) : 0);
    lab.push_back(in[static_cast<size_t>(i * kLen)] % 3);
    real += length;
  }
  w.append(in, {}, lab);
  w.close();
  return real;
}

// Byte-level language-model windows (st-data lm's ids: byte + 1).
void write_byte_lm_split(const std::string& path, int64_t n) {
  ShardMeta m;
  m.task = "lm";
  m.vocab_size = 257;
  m.num_classes = 0;
  m.seq_len = kLen;
  ShardWriter w(path, m, 16);
  std::vector<int32_t> in;
  for (int64_t i = 0; i < n * kLen; ++i) in.push_back(static_cast<int32_t>('a' + (i * 5) % 26) + 1);
  w.append(in, {}, {});
  w.close();
}

std::vector<nlohmann::json> rows(const std::string& run_dir, const std::string& split) {
  std::vector<nlohmann::json> out;
  std::ifstream in(run_dir + "/metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    nlohmann::json j = nlohmann::json::parse(line);
    if (j["split"] == split) out.push_back(j);
  }
  return out;
}

void train(const std::string& yaml) {
  ProcessGrid grid(std::make_shared<LocalCommunicator>(), 1);
  Trainer t(train_config_from_yaml(yaml, "test"), grid, TrainOptions{false, false});
  t.run();
}

std::string config(const TempDir& dir, const std::string& run, int64_t log_every, const std::string& task = "") {
  return "run_dir: " + dir.file(run) + "\nseed: 5\n" +
         "model:\n  d_model: 16\n  heads: 2\n  layers: 1\n  d_ff: 24\n  dropout: 0.1\n" + task +
         "data:\n  train: " + dir.file("train-*.h5") + "\n  val: " + dir.file("val-*.h5") +
         "\n  batch_size: 8\n  shuffle_buffer: 16\n  block_size: 8\n"
         "optimizer:\n  lr: 0.01\n  warmup: 1\n"
         "train:\n  steps: 5\n  eval_every: 0\n  checkpoint_every: 0\n  log_every: " +
         std::to_string(log_every) + "\n";
}

TEST(TrainMetrics, WindowValuesAreTheMeansOfTheStepsAndTokensAreCountedByHand) {
  TempDir dir;
  // 40 examples, batch 8: the 5 steps are one epoch, each example once.
  int64_t real = write_ragged_split(dir.file("train-0.h5"), 40);
  write_ragged_split(dir.file("val-0.h5"), 16);
  train(config(dir, "every", 1));
  train(config(dir, "window", 5));
  std::vector<nlohmann::json> steps = rows(dir.file("every"), "train"), window = rows(dir.file("window"), "train");
  ASSERT_EQ(steps.size(), 5u);
  ASSERT_EQ(window.size(), 1u);
  double loss = 0, grad = 0, accuracy = 0, tokens = 0;
  for (const nlohmann::json& s : steps) {
    EXPECT_EQ(s["steps"].get<double>(), 1.0);
    loss += s["loss"].get<double>() / 5;
    grad += s["grad_norm"].get<double>() / 5;
    accuracy += s["accuracy"].get<double>() / 5;  // each step has 8 targets: the mean is the window's metric
    tokens += s["tokens"].get<double>();
    // Padded positions per second against real ones: 8 x 12 per step over that step's real tokens.
    EXPECT_NEAR(s["padded_tokens_per_s"].get<double>() / s["tokens_per_s"].get<double>(),
                8.0 * kLen / s["tokens"].get<double>(), 1e-9);
  }
  const nlohmann::json& w = window[0];
  EXPECT_EQ(w["step"].get<int64_t>(), 5);
  EXPECT_EQ(w["steps"].get<double>(), 5.0);
  EXPECT_NEAR(w["loss"].get<double>(), loss, 1e-6 * std::abs(loss));
  EXPECT_NEAR(w["grad_norm"].get<double>(), grad, 1e-6 * grad);
  EXPECT_NEAR(w["accuracy"].get<double>(), accuracy, 1e-12);
  EXPECT_EQ(tokens, static_cast<double>(real));
  EXPECT_EQ(w["tokens"].get<double>(), static_cast<double>(real));
  EXPECT_LT(static_cast<double>(real), 40.0 * kLen);  // the data is padded: the counts differ
  EXPECT_NEAR(w["padded_tokens_per_s"].get<double>() / w["tokens_per_s"].get<double>(), 40.0 * kLen / real, 1e-9);
  EXPECT_EQ(w.count("perplexity"), 0u);  // not a language model
}

// The phases of a step add up to at most its time; mfu is the nominal FLOPs per step
// (core/nn/flops.h) over the step time and train.peak_tflops; the allocator's peak is reported.
TEST(TrainMetrics, PhasesMfuAndPeakMemory) {
  TempDir dir;
  write_ragged_split(dir.file("train-0.h5"), 40);
  write_ragged_split(dir.file("val-0.h5"), 16);
  std::string yaml = config(dir, "run", 5) + "  peak_tflops: 0.5\n";
  train(yaml);
  std::vector<nlohmann::json> r = rows(dir.file("run"), "train");
  ASSERT_EQ(r.size(), 1u);
  const nlohmann::json& w = r[0];
  double step_ms = w["step_ms"].get<double>(), parts = 0;
  for (const char* phase : {"data_ms", "forward_ms", "backward_ms", "sync_ms", "optimizer_ms"}) {
    EXPECT_GE(w[phase].get<double>(), 0.0) << phase;
    parts += w[phase].get<double>();
  }
  EXPECT_LE(parts, step_ms * 1.0001);
  EXPECT_GT(parts, step_ms * 0.5);  // the phases cover most of the step
  EXPECT_GT(w["forward_ms"].get<double>(), 0.0);
  EXPECT_GT(w["backward_ms"].get<double>(), 0.0);
  TrainConfig cfg = train_config_from_yaml(yaml, "test");
  cfg.model.vocab_size = 10;
  cfg.model.max_len = kLen;
  cfg.model.num_classes = 3;
  double flops = training_flops(cfg.model, 8, kLen + 1);  // the CLS is a position
  EXPECT_NEAR(w["mfu"].get<double>(), flops / (step_ms / 1e3) / 0.5e12, 1e-9 * w["mfu"].get<double>());
  EXPECT_GT(w["peak_memory_gib"].get<double>(), 0.0);
}

// train.trace_steps: the traced steps' phases in RUN/trace/rank-0.json, in order inside each
// step, each the same time the step's metrics report for it.
TEST(TrainMetrics, TraceOfTheChosenSteps) {
  TempDir dir;
  write_ragged_split(dir.file("train-0.h5"), 40);
  write_ragged_split(dir.file("val-0.h5"), 16);
  train(config(dir, "run", 1) + "  trace_steps: 2\n  trace_first: 2\n");
  std::ifstream in(dir.file("run") + "/trace/rank-0.json");
  ASSERT_TRUE(in.good()) << "no trace file";
  nlohmann::json trace = nlohmann::json::parse(in);
  std::map<int64_t, std::vector<nlohmann::json>> by_step;
  for (const nlohmann::json& e : trace["traceEvents"])
    if (e["ph"] == "X") by_step[e["args"]["step"].get<int64_t>()].push_back(e);
  ASSERT_EQ(by_step.size(), 2u);
  EXPECT_EQ(by_step.begin()->first, 2);
  EXPECT_EQ(by_step.rbegin()->first, 3);
  std::vector<nlohmann::json> metrics = rows(dir.file("run"), "train");
  for (auto& [step, events] : by_step) {
    std::vector<std::string> names;
    double end = 0;
    std::map<std::string, double> ms;
    for (const nlohmann::json& e : events) {
      names.push_back(e["name"]);
      EXPECT_GE(e["ts"].get<double>(), end) << "phases overlap in step " << step;
      end = e["ts"].get<double>() + e["dur"].get<double>();
      ms[e["name"]] += e["dur"].get<double>() / 1e3;
    }
    EXPECT_EQ(names, (std::vector<std::string>{"data", "forward", "backward", "sync", "optimizer", "optimizer",
                                               "evaluation", "checkpoint"}))
        << "step " << step;
    const nlohmann::json& m = metrics[static_cast<size_t>(step - 1)];
    ASSERT_EQ(m["step"].get<int64_t>(), step);
    for (const char* phase : {"forward", "backward", "sync", "optimizer"})
      EXPECT_NEAR(ms[phase], m[std::string(phase) + "_ms"].get<double>(), 1e-6) << phase << ", step " << step;
  }
}

TEST(TrainMetrics, LanguageModelsLogPerplexityAndBitsPerByte) {
  TempDir dir;
  write_byte_lm_split(dir.file("train-0.h5"), 40);
  write_byte_lm_split(dir.file("val-0.h5"), 8);
  train(config(dir, "lm", 5, "  task: lm\n  causal: true\n"));
  for (const char* split : {"train", "val"}) {
    std::vector<nlohmann::json> r = rows(dir.file("lm"), split);
    ASSERT_FALSE(r.empty()) << split;
    double loss = r.back()["loss"].get<double>();
    EXPECT_NEAR(r.back()["perplexity"].get<double>(), std::exp(loss), 1e-9 * std::exp(loss)) << split;
    EXPECT_NEAR(r.back()["bits_per_byte"].get<double>(), loss / std::log(2.0), 1e-12) << split;
  }
}

}  // namespace
}  // namespace st
