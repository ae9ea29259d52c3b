// st-train in-process: config errors (unknown keys with a suggestion, wrong types and ranges with
// file:line, typed --set overrides), docs/config.md up to date, bad inputs (missing data, data
// that disagrees with the config, unwritable run directory, corrupt or incompatible checkpoint on
// --resume: clear errors, nothing overwritten; changed keys refused unless allowed; --resume
// auto), resume exactness, preemption, NaN policies.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "distributed/exit_codes.h"
#include "tests/support/expect_error.h"
#include "core/tensor/allocator.h"
#include "data/h5.h"
#include "launch/checkpoint.h"
#include "launch/config/schema.h"
#include "launch/suite.h"
#include "launch/trainer.h"
#include "tests/data/temp_dir.h"
#include "tests/support/h5_fixture.h"
#include "tests/support/toy_split.h"

namespace st {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

std::string write_file(const TempDir& dir, const std::string& name, const std::string& text) {
  std::string p = dir.file(name);
  std::ofstream(p) << text;
  return p;
}

using testing::expect_error;

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A small labelled split: tokens 1..9, label = first token % classes.
void write_data(const TempDir& dir, const std::string& name, int64_t n, int64_t vocab = 10, int64_t classes = 3) {
  testing::write_toy_split(dir.file(name), n, vocab, classes);
}

std::string base_config(const TempDir& dir) {
  return "run_dir: " + dir.file("run") + "\n"
         "seed: 3\n"
         "model:\n  d_model: 16\n  heads: 2\n  layers: 1\n  d_ff: 24\n  dropout: 0.1\n"
         "data:\n  train: " + dir.file("train-*.h5") + "\n  val: " + dir.file("val-*.h5") +
         "\n  test: " + dir.file("val-*.h5") + "\n  batch_size: 8\n  shuffle_buffer: 16\n  block_size: 8\n"
         "optimizer:\n  lr: 0.01\n  schedule: cosine\n  warmup: 2\n"
         "train:\n  steps: 6\n  eval_every: 3\n  log_every: 1\n";
}

// base_config over 40 training and 16 validation examples written into dir.
TrainConfig config_with_data(const TempDir& dir) {
  write_data(dir, "train", 40);
  write_data(dir, "val", 16);
  return train_config_from_yaml(base_config(dir), "test");
}

RunResult train(const TrainConfig& cfg, bool resume = false, std::vector<std::string> allow_change = {}) {
  ProcessGrid grid(std::make_shared<LocalCommunicator>(), 1);
  TrainOptions options{resume, false};
  options.allow_change = std::move(allow_change);
  Trainer t(cfg, grid, options);
  return t.run();
}

// base_config over fresh data in dir, with run_dir dir/straight, trained straight through: the
// reference of the resume tests. Returns its config and result.
std::pair<TrainConfig, RunResult> straight_run(const TempDir& dir) {
  write_data(dir, "train", 40);
  write_data(dir, "val", 16);
  TrainConfig straight = train_config_from_yaml(base_config(dir), "test");
  straight.run_dir = dir.file("straight");
  RunResult r = train(straight);
  return {straight, r};
}

TEST(Config, UnknownKeysNameThePathAndTheClosestKey) {
  TempDir dir;
  std::string p = write_file(dir, "c.yaml", "model:\n  d_modle: 8\n");
  expect_error([&] { load_train_config(p, {}); }, {"c.yaml:2", "unknown key 'model.d_modle'", "did you mean 'model.d_model'"});
  std::string q = write_file(dir, "d.yaml", "optimiser:\n  lr: 1\n");
  expect_error([&] { load_train_config(q, {}); }, {"d.yaml:1", "unknown key 'optimiser'", "did you mean 'optimizer"});
  expect_error([&] { load_train_config(write_file(dir, "e.yaml", "seed: 1\n"), {"trian.steps=5"}); },
               {"--set trian.steps=5", "unknown key 'trian.steps'", "did you mean 'train.steps'"});
}

TEST(Config, WrongTypesAndRangesNameFileAndLine) {
  TempDir dir;
  expect_error([&] { load_train_config(write_file(dir, "a.yaml", "seed: 1\nmodel:\n  layers: two\n"), {}); },
               {"a.yaml:3", "model.layers", "expected an integer, got 'two'"});
  expect_error([&] { load_train_config(write_file(dir, "b.yaml", "model:\n  dropout: 1.5\n"), {}); },
               {"b.yaml:2", "model.dropout", "out of range"});
  expect_error([&] { load_train_config(write_file(dir, "c.yaml", "model:\n  attention: softmaxx\n"), {}); },
               {"c.yaml:2", "unknown value 'softmaxx'", "simpletron, softmax, linear_elu"});
  expect_error([&] { load_train_config(write_file(dir, "d.yaml", "model: 3\n"), {}); },
               {"d.yaml:1", "'model' is a section"});
  expect_error([&] { load_train_config(write_file(dir, "e.yaml", "train:\n  steps: [1, 2]\n"), {}); },
               {"e.yaml:2", "train.steps", "expected an integer, got a list"});
  expect_error([&] { load_train_config(write_file(dir, "g.yaml", "model:\n  ? {d_model: 1}\n  : 2\n"), {}); },
               {"g.yaml:2", "a key must be a name, found a mapping in section 'model'"});
  expect_error([&] { load_train_config(write_file(dir, "f.yaml", "seed: 1\n"), {"train.steps=0"}); },
               {"--set train.steps=0", "out of range"});
  expect_error([&] { load_train_config(dir.file("missing.yaml"), {}); }, {"missing.yaml", "cannot read"});
}

TEST(Config, OverridesAreTypedAndTheResolvedConfigRoundTrips) {
  TempDir dir;
  std::string p = write_file(dir, "c.yaml", "model:\n  layers: 3\n");
  TrainConfig c = load_train_config(p, {"model.layers=5", "model.causal=true", "optimizer.lr=2e-3", "run_dir=x y"});
  EXPECT_EQ(c.model.layers, 5);
  EXPECT_TRUE(c.model.causal);
  EXPECT_DOUBLE_EQ(c.optim.lr, 2e-3);
  EXPECT_EQ(c.run_dir, "x y");
  TrainConfig back = train_config_from_yaml(to_yaml(c), "resolved");
  EXPECT_EQ(to_yaml(back), to_yaml(c));
}

// Each key is read from its own node of the parsed file, at every depth (the iteration over a
// mapping holds its nodes by value: under AddressSanitizer a reference into the iterator's
// temporary pair is a stack-use-after-scope).
TEST(Config, NestedKeysAreReadFromTheirOwnNodes) {
  TempDir dir;
  std::string p = write_file(dir, "c.yaml",
                             "seed: 11\nmodel:\n  d_model: 24\n  heads: 3\n  attention: linear_elu\n"
                             "optimizer:\n  lr: 0.004\n  schedule: linear\ntrain:\n  steps: 7\n");
  TrainConfig c = load_train_config(p, {});
  EXPECT_EQ(c.seed, 11u);
  EXPECT_EQ(c.model.d_model, 24);
  EXPECT_EQ(c.model.heads, 3);
  EXPECT_EQ(c.model.attention, AttentionKind::LinearElu);
  EXPECT_DOUBLE_EQ(c.optim.lr, 0.004);
  EXPECT_EQ(c.optim.schedule, "linear");
  EXPECT_EQ(c.train.steps, 7);
}

TEST(Config, DocsFileIsGeneratedFromTheSchema) {
  std::ifstream in(std::string(ST_SOURCE_DIR) + "/docs/config.md");
  ASSERT_TRUE(in.good()) << "docs/config.md is missing; regenerate with st-train --config-docs > docs/config.md";
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), config_docs_markdown()) << "docs/config.md is stale: st-train --config-docs > docs/config.md";
  for (const std::string& key : config_keys()) EXPECT_NE(ss.str().find("`" + key + "`"), std::string::npos) << key;
}

// Every config shipped in configs/ parses against the schema (suites: their task configs too),
// so a renamed or retyped key cannot leave a shipped file behind. The long-context configs use
// what they are there to show.
TEST(Config, ShippedConfigsParse) {
  std::string root = std::string(ST_SOURCE_DIR) + "/configs";
  int parsed = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
    if (entry.path().extension() != ".yaml") continue;
    std::string path = entry.path().string();
    SCOPED_TRACE(path);
    if (is_suite_config(path)) {
      // A suite names its task configs relative to the repository root, where it is run from.
      std::filesystem::path here = std::filesystem::current_path();
      std::filesystem::current_path(ST_SOURCE_DIR);
      EXPECT_NO_THROW(EXPECT_FALSE(load_suite(path).tasks.empty()));
      std::filesystem::current_path(here);
      continue;
    }
    TrainConfig c;
    EXPECT_NO_THROW(c = train_config_from_yaml(read_file(path), path));
    // The best checkpoint is chosen on validation: never on the test split.
    if (!c.data.val.empty()) {
      EXPECT_NE(c.data.val, c.data.test) << "validation on the test split";
    }
    ++parsed;
  }
  EXPECT_GE(parsed, 10);
  for (const char* name : {"lm-1m.yaml", "classify-1m.yaml", "recall.yaml"}) {
    TrainConfig c = train_config_from_yaml(read_file(root + "/long/" + name), name);
    EXPECT_EQ(c.train.recompute, Recompute::Block) << name;
    EXPECT_EQ(c.model.positions, PositionKind::Sinusoidal) << name;
    EXPECT_EQ(c.dist.sp, 2) << name;
  }
}

TEST(TrainErrors, MissingDataFiles) {
  TempDir dir;
  TrainConfig c = train_config_from_yaml(base_config(dir), "test");
  expect_error([&] { train(c); }, {"train-*.h5", "matches no shard files"});
}

TEST(TrainErrors, DataThatDisagreesWithTheConfig) {
  TempDir dir;
  TrainConfig c = config_with_data(dir);
  c.model.vocab_size = 12;
  expect_error([&] { train(c); }, {"model.vocab_size: 12 disagrees with the data", "vocab_size 10"});
  c.model.vocab_size = 0;
  c.model.num_classes = 4;
  expect_error([&] { train(c); }, {"model.num_classes: 4 disagrees", "num_classes 3"});
  c.model.num_classes = 0;
  c.model.task = TaskKind::LanguageModel;
  c.model.causal = true;
  expect_error([&] { train(c); }, {"model.task: lm needs language-model shards"});
}

// The validation and test splits are compared with the training data's metadata (read while the
// opened split is alive: under AddressSanitizer, metadata read from a destroyed list of shards
// is a heap-use-after-free).
TEST(TrainErrors, ValidationOrTestSplitThatDisagreesWithTheTrainingData) {
  TempDir dir;
  write_data(dir, "train", 40);
  write_data(dir, "val", 16, /*vocab=*/12);
  TrainConfig c = train_config_from_yaml(base_config(dir), "test");
  expect_error([&] { resolve_against_data(c); },
               {"val-*.h5' disagrees with the training data", "vocab_size, num_classes, seq_len or pairing differ"});
  write_data(dir, "val", 16);
  c.data.test = dir.file("other-*.h5");
  write_data(dir, "other", 16, /*vocab=*/10, /*classes=*/4);
  expect_error([&] { resolve_against_data(c); }, {"other-*.h5' disagrees with the training data"});
  c.data.test = dir.file("val-*.h5");
  resolve_against_data(c);
  EXPECT_EQ(c.model.vocab_size, 10);
}

TEST(TrainErrors, FreshRunInADirectoryWithCheckpointsIsRefused) {
  TempDir dir;
  TrainConfig c = config_with_data(dir);
  c.train.steps = 2;
  c.train.eval_every = 0;
  train(c);
  auto before = step_checkpoints(c.run_dir);
  ASSERT_FALSE(before.empty());
  std::ifstream m(c.run_dir + "/metrics.jsonl");
  std::string metrics((std::istreambuf_iterator<char>(m)), {});
  expect_error([&] { train(c); }, {"run_dir", "holds checkpoints of an earlier run", "--resume"});
  // A dry run plans all the same and says what the run would meet.
  ::testing::internal::CaptureStdout();
  {
    ProcessGrid grid(std::make_shared<LocalCommunicator>(), 1);
    Trainer(c, grid, TrainOptions{false, true}).run();
  }
  std::string plan = ::testing::internal::GetCapturedStdout();
  EXPECT_NE(plan.find("without --dry-run this run would be refused: run_dir"), std::string::npos) << plan;
  EXPECT_NE(plan.find("training FLOPs per step"), std::string::npos) << plan;
  // Nothing of the earlier run was touched.
  EXPECT_EQ(step_checkpoints(c.run_dir), before);
  std::ifstream m2(c.run_dir + "/metrics.jsonl");
  EXPECT_EQ(std::string((std::istreambuf_iterator<char>(m2)), {}), metrics);
}

TEST(TrainErrors, AModelThatCannotFitIsRefusedBeforeAllocationAndInDryRun) {
  TempDir dir;
  TrainConfig c = config_with_data(dir);
  c.model.layers = 16000;
  c.model.d_model = 4096;
  c.model.heads = 32;
  c.model.d_ff = 16384;
  int64_t before = memory_stats().bytes_in_use;
  for (bool dry_run : {true, false}) {
    ProcessGrid grid(std::make_shared<LocalCommunicator>(), 1);
    expect_error([&] { Trainer(c, grid, TrainOptions{false, dry_run}).run(); },
                 {"model: about", "GiB per process", "parameters x 16 bytes", "this machine's memory",
                  "set train.memory_limit"});
  }
  EXPECT_EQ(memory_stats().bytes_in_use, before);
  EXPECT_FALSE(fs::exists(c.run_dir)) << "nothing written";
  c = config_with_data(dir);
  c.train.memory_limit = 1e-6;  // about 1 KiB
  expect_error([&] { train(c); }, {"exceed train.memory_limit (0.0 GiB)"});
}

TEST(TrainErrors, UnwritableRunDirectory) {
  TempDir dir;
  write_data(dir, "train", 40);
  write_data(dir, "val", 16);
  write_file(dir, "blocker", "a file, not a directory");
  TrainConfig c = train_config_from_yaml(base_config(dir), "test");
  c.run_dir = dir.file("blocker") + "/run";
  expect_error([&] { train(c); }, {"run_dir: cannot create", "blocker", "Not a directory"});
}

std::vector<float> all_params(const std::string& ckpt) {
  TrainConfig cfg = train_config_from_yaml(load_checkpoint(ckpt, nullptr, nullptr).config_yaml, ckpt);
  SimpleTronModel m(cfg.model);
  load_checkpoint(ckpt, &m, nullptr);
  std::vector<float> out;
  for (auto& [n, p] : m.named_parameters()) {
    auto v = p.to_vector<float>();
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

TEST(Resume, StraightRunEqualsInterruptedRunBitwise) {
  TempDir dir;
  auto [straight, whole] = straight_run(dir);
  TrainConfig first = straight;
  first.run_dir = dir.file("split");
  first.train.steps = 6;
  first.train.checkpoint_every = 3;
  // Stop after step 3 by asking for preemption, as a cluster would.
  install_preemption_handlers();
  std::raise(SIGUSR1);
  RunResult r1 = train(first);
  EXPECT_TRUE(r1.preempted);
  EXPECT_EQ(r1.steps_done, 1);
  EXPECT_FALSE(preemption_requested()) << "the handled request is cleared";
  RunResult r2 = train(first, /*resume=*/true);
  EXPECT_FALSE(r2.preempted);
  EXPECT_EQ(r2.steps_done, 6);
  EXPECT_EQ(all_params(step_checkpoint_path(straight.run_dir, 6)), all_params(step_checkpoint_path(first.run_dir, 6)));
  EXPECT_EQ(r2.test_accuracy, whole.test_accuracy);
  EXPECT_EQ(r2.test_loss, whole.test_loss);
}

// train.recompute: block through the whole trainer (dropout on, 2 layers, sinusoidal positions):
// the same weights bitwise after 6 steps, the same metrics, and each rank's peak memory in
// results.json. A checkpoint of either resumes under the other (recompute is not part of the
// model).
TEST(Recompute, TrainerRunEqualsTheRunWithoutBitwise) {
  TempDir dir;
  write_data(dir, "train", 40);
  write_data(dir, "val", 16);
  TrainConfig plain = train_config_from_yaml(base_config(dir), "test");
  plain.model.layers = 2;
  plain.model.positions = PositionKind::Sinusoidal;
  plain.run_dir = dir.file("plain");
  TrainConfig recomputed = plain;
  recomputed.run_dir = dir.file("recomputed");
  recomputed.train.recompute = Recompute::Block;
  RunResult a = train(plain), b = train(recomputed);
  EXPECT_EQ(all_params(step_checkpoint_path(plain.run_dir, 6)), all_params(step_checkpoint_path(recomputed.run_dir, 6)));
  EXPECT_EQ(a.test_loss, b.test_loss);
  EXPECT_EQ(a.val_accuracy, b.val_accuracy);
  ASSERT_EQ(b.peak_resident.size(), 1u);
  EXPECT_GT(b.peak_resident[0], 0);
  EXPECT_GT(b.peak_allocator[0], 0);
  std::string results = read_file(recomputed.run_dir + "/results.json");
  EXPECT_NE(results.find("peak_resident_bytes_per_rank"), std::string::npos) << results;
  EXPECT_NE(read_file(recomputed.run_dir + "/train.log").find("peak memory per rank"), std::string::npos);
  // Resume the recomputed run's checkpoint without recompute, for two more steps.
  TrainConfig more = recomputed;
  more.train.recompute = Recompute::None;
  more.train.steps = 8;
  RunResult c = train(more, /*resume=*/true, {"train.steps"});
  EXPECT_EQ(c.steps_done, 8);
}

TEST(Resume, CorruptCheckpointIsAClearErrorAndNothingIsOverwritten) {
  TempDir dir;
  TrainConfig c = config_with_data(dir);
  c.train.steps = 2;
  train(c);
  std::string ck = step_checkpoint_path(c.run_dir, 2);
  std::ofstream(ck, std::ios::trunc) << "garbage";
  auto before = fs::last_write_time(ck);
  c.train.steps = 4;
  expect_error([&] { train(c, true); }, {ck, "not a readable HDF5 file"});
  EXPECT_EQ(fs::last_write_time(ck), before);
  EXPECT_EQ(step_checkpoints(c.run_dir).size(), 1u);
}

// Flips one bit in the stored data of dataset ds of the file at path.
void flip_bit_in(const std::string& path, const std::string& ds) {
  long long at = testing::H5Fixture(path).offset(ds);
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(at + 5);
  char c = 0;
  f.get(c);
  f.seekp(at + 5);
  f.put(static_cast<char>(c ^ 0x10));
}

TEST(Preemption, ASignalDuringValidationEndsItAndTheRunStopsAtThatStep) {
  TempDir dir;
  TrainConfig c = config_with_data(dir);
  c.train.eval_every = 1;
  install_preemption_handlers();
  std::raise(SIGUSR1);  // pending when step 1's validation starts
  RunResult r = train(c);
  EXPECT_TRUE(r.preempted);
  EXPECT_EQ(r.steps_done, 1);
  EXPECT_NE(read_file(c.run_dir + "/train.log").find("step 1: validation interrupted by a signal"), std::string::npos);
  EXPECT_EQ(read_file(c.run_dir + "/metrics.jsonl").find("\"split\":\"val\""), std::string::npos)
      << "an interrupted validation is not counted";
  EXPECT_TRUE(fs::exists(step_checkpoint_path(c.run_dir, 1)));
  RunResult rest = train(c, true);  // and the run goes on from there
  EXPECT_EQ(rest.steps_done, c.train.steps);
}

TEST(Resume, AFlippedBitIsDetectedAndResumeFallsBackToTheCheckpointBefore) {
  TempDir dir;
  TrainConfig straight = straight_run(dir).first;
  TrainConfig c = straight;
  c.run_dir = dir.file("damaged");
  c.train.steps = 4;
  c.train.checkpoint_every = 2;
  train(c);
  std::string newest = step_checkpoint_path(c.run_dir, 4), before = step_checkpoint_path(c.run_dir, 2);
  ASSERT_EQ(verify_checkpoint(newest), "");
  std::string ds = "params/" + h5::File::open_read(newest).list("params").at(0);
  flip_bit_in(newest, ds);
  std::string why = verify_checkpoint(newest);
  EXPECT_NE(why.find("dataset (" + ds + ") fails its checksum"), std::string::npos) << why;
  EXPECT_NE(why.find("fails its checksum"), std::string::npos) << why;
  SimpleTronModel m(train_config_from_yaml(load_checkpoint(before, nullptr, nullptr).config_yaml, "c").model);
  expect_error([&] { load_checkpoint(newest, &m, nullptr); }, {newest, "fails its checksum", "damaged"});
  // Resume skips it, says so, continues from step 2 and ends where the straight run ends.
  c.train.steps = 6;
  RunResult r = train(c, true, {"train.steps"});
  EXPECT_EQ(r.steps_done, 6);
  std::string log = read_file(c.run_dir + "/train.log");
  EXPECT_NE(log.find("resume: skipping " + newest), std::string::npos) << log;
  EXPECT_TRUE(fs::exists(newest + ".damaged")) << "kept aside, out of pruning's way";
  EXPECT_NE(log.find("resumed from " + before + " at step 2"), std::string::npos) << log;
  EXPECT_EQ(all_params(step_checkpoint_path(straight.run_dir, 6)), all_params(step_checkpoint_path(c.run_dir, 6)));
  // Every checkpoint damaged: a clear error listing why.
  for (const std::string& p : step_checkpoints(c.run_dir)) flip_bit_in(p, ds);
  expect_error([&] { train(c, true); }, {"no checkpoint verifies", "fails its checksum"});
}

TEST(Resume, MetricsContinueFromTheCheckpointWithoutDuplicatesOrTornLines) {
  TempDir dir;
  TrainConfig c = config_with_data(dir);
  c.train.steps = 4;
  c.train.checkpoint_every = 2;
  train(c);
  // The run "was killed" after step 4's metrics but before its checkpoint, mid-line.
  fs::remove(step_checkpoint_path(c.run_dir, 4));
  std::string metrics = c.run_dir + "/metrics.jsonl";
  std::string early;
  {
    std::istringstream rows(read_file(metrics));
    for (std::string line; std::getline(rows, line);)
      if (nlohmann::json::parse(line)["step"].get<int64_t>() <= 2) early += line + "\n";
  }
  std::ofstream(metrics, std::ios::app) << "{\"split\":\"train\",\"st";
  train(c, true);
  std::map<std::pair<std::string, int64_t>, int> seen;
  std::istringstream rows(read_file(metrics));
  for (std::string line; std::getline(rows, line);) {
    nlohmann::json row = nlohmann::json::parse(line);  // every line parses
    ++seen[{row["split"].get<std::string>(), row["step"].get<int64_t>()}];
  }
  for (const auto& [key, n] : seen) EXPECT_EQ(n, 1) << key.first << " step " << key.second;
  EXPECT_EQ(read_file(metrics).rfind(early, 0), 0u) << "the rows up to the checkpoint are kept as they were";
  EXPECT_TRUE(seen.count({"train", 4})) << "step 4 was trained again";
  EXPECT_NE(read_file(c.run_dir + "/train.log").find("metrics.jsonl continues from step 2"), std::string::npos);
}

TEST(Checkpoint, NonFiniteParametersAreRefusedOnLoad) {
  TempDir dir;
  TrainConfig c = config_with_data(dir);
  c.train.steps = 2;
  train(c);
  std::string path = step_checkpoint_path(c.run_dir, 2);
  ModelConfig stored = train_config_from_yaml(load_checkpoint(path, nullptr, nullptr).config_yaml, path).model;
  SimpleTronModel m(stored);
  load_weights(path, m, true);
  {
    NoGradGuard ng;
    Tensor w = m.named_parameters().begin()->second;
    Tensor bad = Tensor::full(w.shape(), std::nan(""));
    copy_into(w, bad);
  }
  std::string nan_path = dir.file("nan.h5");
  save_weights(nan_path, m, load_checkpoint(path, nullptr, nullptr).config_yaml);
  EXPECT_NE(verify_checkpoint(nan_path).find("non-finite"), std::string::npos);
  SimpleTronModel fresh(stored);
  expect_error([&] { load_weights(nan_path, fresh, true); }, {nan_path, "non-finite value(s)", "refusing to load"});
}

TEST(Resume, IncompatibleModelConfigIsRejected) {
  TempDir dir;
  TrainConfig c = config_with_data(dir);
  c.train.steps = 2;
  train(c);
  std::string config_before = read_file(c.run_dir + "/config.yaml"), log_before = read_file(c.run_dir + "/train.log");
  c.model.d_model = 32;
  expect_error([&] { train(c, true); }, {"--resume", "the config differs from the one the run was started with",
                                          "model.d_model: 16 in the checkpoint, 32 now", "--allow-change"});
  EXPECT_EQ(read_file(c.run_dir + "/config.yaml"), config_before) << "a refused resume changes no file";
  EXPECT_EQ(read_file(c.run_dir + "/train.log"), log_before);
  c.model.d_model = 16;
  c.model.attention = AttentionKind::LinearElu;
  expect_error([&] { train(c, true); }, {"model.attention: simpletron in the checkpoint, linear_elu now"});
}

TEST(Resume, ChangedKeysAreRefusedUnlessAllowedAndTheLogSaysWhatChanged) {
  TempDir dir;
  TrainConfig c = config_with_data(dir);
  c.train.steps = 4;
  train(c);
  TrainConfig more = c;
  more.train.steps = 8;  // a finished cosine run extended: its learning rate would jump back up
  more.optim.lr = 0.02;
  more.train.log_every = 2;                     // free on resume
  more.train.recompute = Recompute::Block;      // free on resume
  expect_error([&] { train(more, true); }, {"the config differs from the one the run was started with",
                                            "train.steps: 4 in the checkpoint, 8 now",
                                            "optimizer.lr: 0.01 in the checkpoint, 0.02 now", "--allow-change"});
  expect_error([&] { train(more, true, {"train.steps"}); }, {"optimizer.lr"});
  RunResult r = train(more, true, {"train.steps", "optimizer.lr"});
  EXPECT_EQ(r.steps_done, 8);
  std::string log = read_file(c.run_dir + "/train.log");
  for (const char* line : {"resume: train.steps changed from 4 to 8 (--allow-change)",
                           "resume: optimizer.lr changed from 0.01 to 0.02 (--allow-change)",
                           "resume: train.log_every changed from 1 to 2\n", "resume: train.recompute changed from none to block",
                           "resume: the learning rate of step 5 is"})
    EXPECT_NE(log.find(line), std::string::npos) << line << "\n" << log;
}

TEST(Resume, AutoStartsFreshThenContinuesTheSameTrajectory) {
  TempDir dir;
  TrainConfig straight = straight_run(dir).first;
  TrainConfig c = straight;
  c.run_dir = dir.file("auto");
  ProcessGrid grid(std::make_shared<LocalCommunicator>(), 1);
  TrainOptions automatic;
  automatic.resume_auto = true;
  install_preemption_handlers();
  std::raise(SIGUSR1);  // the first attempt is preempted after its first step
  RunResult first = Trainer(c, grid, automatic).run();
  EXPECT_TRUE(first.preempted);
  EXPECT_NE(read_file(c.run_dir + "/train.log").find("--resume auto: no step checkpoint in"), std::string::npos);
  RunResult second = Trainer(c, grid, automatic).run();  // the requeued job
  EXPECT_EQ(second.steps_done, 6);
  std::string log = read_file(c.run_dir + "/train.log");
  EXPECT_NE(log.find("holds step checkpoints: resuming"), std::string::npos) << log;
  EXPECT_EQ(all_params(step_checkpoint_path(straight.run_dir, 6)), all_params(step_checkpoint_path(c.run_dir, 6)));
}

TEST(NanPolicy, SkipCountsAndStopKeepsTheLastGoodState) {
  TempDir dir;
  TrainConfig c = config_with_data(dir);
  c.optim.lr = 1e30;  // the first update blows the weights up; the next loss is not finite
  c.optim.clip_norm = 0;
  c.optim.warmup = 0;
  c.optim.schedule = "constant";
  c.train.max_skipped = 2;
  // Both stops are decided by every rank together and exit with kExitNonFinite.
  int code = 0;
  auto run = [&] {
    try {
      train(c);
    } catch (const CollectiveError& e) {
      code = e.exit_code();
      throw;
    }
  };
  expect_error<CollectiveError>(run, {"train.max_skipped: 3 steps skipped"});
  EXPECT_EQ(code, kExitNonFinite);
  c.train.nan_policy = "stop";
  c.run_dir = dir.file("stop");
  code = 0;
  expect_error<CollectiveError>(run, {"train.nan_policy stop", "is not finite", "the last good state (step 1)"});
  EXPECT_EQ(code, kExitNonFinite);
  EXPECT_TRUE(fs::exists(step_checkpoint_path(c.run_dir, 1)));
}

}  // namespace
}  // namespace st
