// The embedding task end to end in st-train: a teacher imported from a BERT checkpoint
// (softmax attention), a student initialised from the same file (model.init_from). A softmax
// student reproduces the teacher exactly (cosine 1, loss 0); a SimpleTRON student from the
// teacher's weights learns (validation cosine rises); errors name distill.teacher and the
// disagreeing sizes.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/nn/model.h"
#include "data/shard.h"
#include "launch/bert_import.h"
#include "launch/checkpoint.h"
#include "launch/embedding_metrics.h"
#include "launch/config/schema.h"
#include "launch/trainer.h"
#include "tests/data/temp_dir.h"
#include "tests/support/expect_error.h"
#include "tests/support/h5_fixture.h"
#include "tests/support/run_records.h"

namespace st {
namespace {

using testing::expect_error;
using testing::TempDir;

// The small random BERT of the fixtures as a weights file.
std::string write_teacher(const TempDir& dir) {
  BertImportOptions opt;
  opt.dropout = 0;
  BertImport imp = import_bert(testing::fixtures_dir() + "/bert_tiny", opt);
  SimpleTronModel model(imp.config);
  {
    NoGradGuard ng;
    for (auto& [name, p] : model.named_parameters()) copy_into(p, imp.params.at(name));
  }
  TrainConfig cfg;
  cfg.model = imp.config;
  std::string path = dir.file("teacher.h5");
  save_weights(path, model, to_yaml(cfg));
  return path;
}

// Unlabelled "sentences": [CLS]-like id 2, 3..12 random ids, [SEP]-like id 3, padding.
void write_sentences(const TempDir& dir, const std::string& name, int64_t n, uint64_t seed) {
  ShardMeta m;
  m.task = "sentences";
  m.vocab_size = 64;
  m.num_classes = 0;
  m.seq_len = 16;
  ShardWriter w(dir.file(name + "-0.h5"), m, 32);
  std::vector<int32_t> in;
  uint64_t s = seed;
  for (int64_t i = 0; i < n; ++i) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    int64_t len = 4 + static_cast<int64_t>((s >> 33) % 12);
    for (int64_t j = 0; j < 16; ++j) {
      s = s * 6364136223846793005ull + 1442695040888963407ull;
      in.push_back(j == 0 ? 2 : j + 1 == len ? 3 : j < len ? static_cast<int32_t>(4 + (s >> 33) % 60) : 0);
    }
  }
  w.append(in, {}, {});
  w.close();
}

TrainConfig distill_config(const TempDir& dir, const std::string& teacher, const std::string& attention) {
  std::string yaml =
      "run_dir: " + dir.file("run-" + attention) + "\nseed: 5\n"
      "model:\n  task: embedding\n  attention: " + attention + "\n  vocab_size: 64\n  max_len: 24\n"
      "  d_model: 32\n  heads: 4\n  layers: 2\n  d_ff: 48\n  out_proj: true\n  norm: post\n  ln_eps: 1e-12\n"
      "  pooling: mean\n  dropout: 0\n  init_from: " + teacher + "\n"
      "distill:\n  teacher: " + teacher + "\n"
      "data:\n  train: " + dir.file("train-*.h5") + "\n  val: " + dir.file("val-*.h5") +
      "\n  batch_size: 8\n  shuffle_buffer: 32\n  block_size: 8\n"
      "optimizer:\n  lr: 0.003\n  warmup: 0\n"
      "train:\n  steps: 40\n  eval_every: 40\n  log_every: 10\n";
  return train_config_from_yaml(yaml, "test");
}

RunResult train(const TrainConfig& cfg) {
  ProcessGrid grid(std::make_shared<LocalCommunicator>(), 1);
  Trainer t(cfg, grid, TrainOptions{false, false});
  return t.run();
}


TEST(Distill, SoftmaxStudentFromTheTeachersWeightsIsTheTeacher) {
  TempDir dir;
  std::string teacher = write_teacher(dir);
  write_sentences(dir, "train", 64, 1);
  write_sentences(dir, "val", 19, 2);  // not a multiple of the batch: padded evaluation rows
  TrainConfig c = distill_config(dir, teacher, "softmax");
  c.optim.lr = 1e-30;
  c.train.steps = 1;
  c.train.eval_every = 1;
  RunResult r = train(c);
  EXPECT_NEAR(r.val_accuracy, 1.0, 1e-6);  // mean cosine
  EXPECT_NEAR(r.val_loss, 0.0, 1e-6);
}

TEST(Distill, SimpletronStudentLearnsTheTeachersEmbeddings) {
  TempDir dir;
  std::string teacher = write_teacher(dir);
  write_sentences(dir, "train", 256, 1);
  write_sentences(dir, "val", 40, 2);
  TrainConfig c = distill_config(dir, teacher, "simpletron");
  c.run_dir = dir.file("run-start");
  c.train.eval_every = 1;
  c.train.steps = 1;
  c.optim.lr = 1e-30;
  RunResult start = train(c);
  TrainConfig d = distill_config(dir, teacher, "simpletron");
  RunResult r = train(d);
  std::printf("[ distill ] simpletron student: validation loss (1 - cosine) %.3e at the start, %.3e after 40 steps\n",
              start.val_loss, r.val_loss);
  // A random BERT's embeddings are nearly parallel (cosines near 1), so the loss is small from
  // the start; learning shows as its relative decrease.
  EXPECT_LT(r.val_loss, 0.7 * start.val_loss);
  EXPECT_NEAR(r.val_loss, 1.0 - r.val_accuracy, 1e-5);
  EXPECT_FALSE(testing::metric_values(d.run_dir, "val", "cosine").empty());
}

TEST(Distill, AgreementMeasures) {
  // Four unit vectors in 2-D; the teacher equals the student: everything perfect.
  std::vector<float> s{1, 0, 0, 1, 0.6f, 0.8f, -1, 0};
  EmbeddingAgreement same = embedding_agreement(s, s, 2);
  EXPECT_NEAR(same.mean_cosine, 1, 1e-6);
  EXPECT_DOUBLE_EQ(same.retrieval_top1, 1);
  EXPECT_NEAR(same.similarity_spearman, 1, 1e-12);
  EXPECT_EQ(same.rows, 4);
  // Rows 0 and 3 swapped in the teacher: those two retrieve each other, rows 1 and 2 themselves.
  std::vector<float> t{-1, 0, 0, 1, 0.6f, 0.8f, 1, 0};
  EmbeddingAgreement swapped = embedding_agreement(s, t, 2);
  EXPECT_DOUBLE_EQ(swapped.retrieval_top1, 0.5);
  EXPECT_NEAR(swapped.mean_cosine, (-1 + 1 + 1 - 1) / 4.0, 1e-6);
  // Pair similarities student (01 02 03 12 13 23) = (0 .6 -1 .8 0 -.6), teacher = (0 -.6 -1 .8 0 .6):
  // ranks (3.5 5 1 6 3.5 2) and (3.5 2 1 6 3.5 5); their Pearson correlation (ties averaged) is
  // sum(dx dy) / sum(dx^2) = 8 / 17.
  EXPECT_NEAR(swapped.similarity_spearman, 8.0 / 17.0, 1e-9);
}

TEST(Distill, ErrorsNameTheKey) {
  TempDir dir;
  std::string teacher = write_teacher(dir);
  write_sentences(dir, "train", 16, 1);
  write_sentences(dir, "val", 8, 2);
  TrainConfig c = distill_config(dir, teacher, "simpletron");
  c.distill.teacher.clear();
  expect_error([&] { train(c); }, {"distill.teacher", "st-import"});
  c = distill_config(dir, teacher, "simpletron");
  c.init_from.clear();
  c.model.d_model = 16;
  c.model.heads = 2;
  expect_error([&] { train(c); }, {"distill.teacher", "d_model 32", "16"});
  c = distill_config(dir, teacher, "simpletron");
  c.model.d_ff = 40;
  expect_error([&] { train(c); }, {teacher, "blocks.0.ffn.fc1.weight", "shape"});
  c = distill_config(dir, dir.file("absent.h5"), "simpletron");
  c.init_from.clear();
  expect_error([&] { train(c); }, {"absent.h5"});
}

}  // namespace
}  // namespace st
