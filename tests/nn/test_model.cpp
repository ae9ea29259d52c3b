// The model's module API, configuration errors, memory growth in N, and memory released when a
// model and its training step are destroyed. (Learning: test_learning.cpp.)
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "core/nn/model.h"
#include "core/optim/adamw.h"
#include "core/optim/schedule.h"
#include "core/tensor/allocator.h"

namespace st {
namespace {

ModelConfig small_config() {
  ModelConfig c;
  c.vocab_size = 20;
  c.max_len = 32;
  c.num_classes = 3;
  c.d_model = 16;
  c.heads = 2;
  c.layers = 2;
  c.d_ff = 32;
  c.dropout = 0.1f;
  return c;
}

TEST(ModelApi, ParameterNamesFollowTheDesign) {
  ModelConfig c = small_config();
  c.out_proj = true;
  SimpleTronModel m(c);
  std::vector<std::string> names;
  for (auto& [n, _] : m.named_parameters()) names.push_back(n);
  std::vector<std::string> expected_prefix = {
      "embed.tokens", "embed.positions", "embed.cls", "blocks.0.ln1.weight", "blocks.0.ln1.bias",
      "blocks.0.attn.q.weight", "blocks.0.attn.q.bias", "blocks.0.attn.k.weight",
      "blocks.0.attn.k.bias", "blocks.0.attn.v.weight", "blocks.0.attn.v.bias",
      "blocks.0.attn.o.weight", "blocks.0.attn.o.bias", "blocks.0.ln2.weight",
      "blocks.0.ln2.bias", "blocks.0.ffn.fc1.weight", "blocks.0.ffn.fc1.bias",
      "blocks.0.ffn.fc2.weight", "blocks.0.ffn.fc2.bias"};
  ASSERT_GT(names.size(), expected_prefix.size());
  for (size_t i = 0; i < expected_prefix.size(); ++i) EXPECT_EQ(names[i], expected_prefix[i]);
  std::vector<std::string> tail(names.end() - 6, names.end());
  EXPECT_EQ(tail, (std::vector<std::string>{"final_ln.weight", "final_ln.bias", "head.fc1.weight",
                                            "head.fc1.bias", "head.fc2.weight", "head.fc2.bias"}));
  // Count: embeddings + 2 blocks + final LN + head.
  int64_t d = 16, ff = 32, block = 2 * d + 4 * (d * d + d) + 2 * d + (d * ff + ff) + (ff * d + d);
  EXPECT_EQ(m.parameter_count(), 20 * d + 32 * d + d + 2 * block + 2 * d + (d * d + d) + (d * 3 + 3));
}

TEST(ModelApi, SameSeedSameWeightsAndStateRoundTrip) {
  SimpleTronModel a(small_config()), b(small_config());
  ModelConfig other = small_config();
  other.init_seed = 2;
  SimpleTronModel c(other);
  auto sa = a.state(), sb = b.state(), sc = c.state();
  EXPECT_EQ(sa["blocks.1.attn.q.weight"].to_vector<float>(), sb["blocks.1.attn.q.weight"].to_vector<float>());
  EXPECT_NE(sa["blocks.1.attn.q.weight"].to_vector<float>(), sc["blocks.1.attn.q.weight"].to_vector<float>());
  c.load_state(sa);
  EXPECT_EQ(c.state()["head.fc2.bias"].to_vector<float>(), sa["head.fc2.bias"].to_vector<float>());
  // A state that does not fit names what is wrong.
  auto broken = sa;
  broken.erase("embed.cls");
  broken["extra.weight"] = Tensor::zeros({1});
  broken["head.fc2.bias"] = Tensor::zeros({4});
  try {
    c.load_state(broken);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("missing 'embed.cls'"), std::string::npos) << m;
    EXPECT_NE(m.find("unexpected 'extra.weight'"), std::string::npos) << m;
    EXPECT_NE(m.find("'head.fc2.bias' has shape (4,)"), std::string::npos) << m;
  }
}

TEST(ModelApi, EvalModeTurnsDropoutOff) {
  SimpleTronModel m(small_config());
  Tensor ids = Tensor::uniform({2, 10}, 3, 1, 20, DType::I32);
  RunContext ctx{.seed = 5, .step = 1};
  NoGradGuard ng;
  m.train();
  Tensor t1 = m.forward(ids, Tensor(), ctx);
  ctx.step = 2;
  Tensor t2 = m.forward(ids, Tensor(), ctx);
  EXPECT_NE(t1.to_vector<float>(), t2.to_vector<float>()) << "dropout masks change per step";
  m.eval();
  Tensor e1 = m.forward(ids, Tensor(), ctx);
  ctx.step = 3;
  Tensor e2 = m.forward(ids, Tensor(), ctx);
  EXPECT_EQ(e1.to_vector<float>(), e2.to_vector<float>());
}

TEST(ModelApi, PaddingDoesNotChangeTheResult) {
  ModelConfig c = small_config();
  c.dropout = 0;
  for (AttentionKind kind : {AttentionKind::SimpleTron, AttentionKind::Softmax, AttentionKind::LinearElu}) {
    c.attention = kind;
    for (Pooling pool : {Pooling::Cls, Pooling::Mean}) {
      c.pooling = pool;
      SimpleTronModel m(c);
      NoGradGuard ng;
      Tensor short_ids = Tensor::from_vector<int32_t>({3, 4, 5, 6, 7}, {1, 5});
      Tensor padded = Tensor::from_vector<int32_t>({3, 4, 5, 6, 7, 0, 0, 0}, {1, 8});
      auto a = m.forward(short_ids, Tensor(), RunContext{}).to_vector<float>();
      auto b = m.forward(padded, Tensor(), RunContext{}).to_vector<float>();
      for (size_t i = 0; i < a.size(); ++i)
        EXPECT_NEAR(a[i], b[i], 1e-5) << name_of(kind) << " " << name_of(pool);
    }
  }
}

void expect_config_error(ModelConfig c, const std::string& key) {
  try {
    SimpleTronModel m(c);
    ADD_FAILURE() << "expected an error naming " << key;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
  }
}

TEST(ModelConfigErrors, RejectedBeforeAllocation) {
  ModelConfig c = small_config();
  int64_t before = memory_stats().bytes_in_use;
  c.heads = 3;
  expect_config_error(c, "model.d_qkv: 16 is not divisible by model.heads (3)");
  c = small_config();
  c.d_qkv = 24;
  expect_config_error(c, "model.d_qkv: 24 differs from model.d_model");
  c = small_config();
  c.causal = true;
  expect_config_error(c, "model.causal: causal attention with a classification head");
  c = small_config();
  c.task = TaskKind::LanguageModel;
  expect_config_error(c, "model.causal: a language model");
  c = small_config();
  c.attention = AttentionKind::LinearElu;
  c.task = TaskKind::LanguageModel;
  c.causal = true;
  expect_config_error(c, "linear_elu supports non-causal attention only");
  c = small_config();
  c.dropout = 1.0f;
  expect_config_error(c, "model.dropout");
  EXPECT_EQ(memory_stats().bytes_in_use, before);
  try {
    parse_attention("softmaxx");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown value 'softmaxx' (valid: simpletron, softmax, linear_elu)"),
              std::string::npos) << e.what();
  }
}

TEST(ModelConfigErrors, SizesAboveTheirLimitsAreRefusedBeforeAllocation) {
  int64_t before = memory_stats().bytes_in_use;
  ModelConfig c = small_config();
  c.d_model = int64_t{1} << 62;
  expect_config_error(c, "model.d_model: 4611686018427387904 is above the limit of 65536");
  c = small_config();
  c.vocab_size = int64_t{1} << 62;
  expect_config_error(c, "model.vocab_size: 4611686018427387904 is above the limit of 2147483647");
  c = small_config();
  c.max_len = int64_t{1} << 62;
  expect_config_error(c, "model.max_len");
  c = small_config();
  c.layers = 1000000000;
  expect_config_error(c, "model.layers: 1000000000 is above the limit of 16384");
  c = small_config();
  c.d_ff = int64_t{1} << 40;
  expect_config_error(c, "model.d_ff");
  EXPECT_EQ(memory_stats().bytes_in_use, before);
  // At every limit at once the count is still exact 64-bit arithmetic (no overflow).
  c = small_config();
  c.vocab_size = ModelConfig::kMaxVocab;
  c.d_model = c.d_qkv = ModelConfig::kMaxWidth;
  c.d_ff = c.d_mlp = ModelConfig::kMaxHidden;
  c.layers = ModelConfig::kMaxLayers;
  c.max_len = ModelConfig::kMaxLen;
  c.validate();
  EXPECT_GT(c.parameter_count(), int64_t{1} << 50);
}

TEST(ModelConfig, ParameterCountWithoutBuildingEqualsTheBuiltModel) {
  std::vector<ModelConfig> configs;
  configs.push_back(small_config());
  ModelConfig c = small_config();
  c.pooling = Pooling::Mean;
  c.norm = NormPlacement::PostLN;
  c.d_mlp = 40;
  configs.push_back(c);
  c = small_config();
  c.out_proj = true;
  c.d_qkv = 24;
  c.heads = 3;
  configs.push_back(c);
  c = small_config();
  c.task = TaskKind::Retrieval;
  configs.push_back(c);
  c = small_config();
  c.task = TaskKind::LanguageModel;
  c.causal = true;
  configs.push_back(c);
  c.tie_embeddings = true;
  configs.push_back(c);
  c = small_config();
  c.task = TaskKind::Embedding;
  c.layers = 0;
  configs.push_back(c);
  for (const ModelConfig& m : configs)
    EXPECT_EQ(m.parameter_count(), SimpleTronModel(m).parameter_count()) << name_of(m.task);
}

TEST(ModelConfigErrors, SequenceLongerThanMaxLen) {
  SimpleTronModel m(small_config());
  try {
    m.forward(Tensor::ones({1, 33}, DType::I32), Tensor(), RunContext{});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("sequence length 33 exceeds model.max_len (32)"),
              std::string::npos) << e.what();
  }
  EXPECT_THROW(m.forward(Tensor::full({1, 4}, 20, DType::I32), Tensor(), RunContext{}), Error);
}

// Peak bytes over forward + backward above what was in use before.
int64_t peak_training_bytes(const SimpleTronModel& m, int64_t B, int64_t N) {
  Tensor ids = Tensor::uniform({B, N}, 7, 1, 50, DType::I32);
  Tensor labels = Tensor::zeros({B}, DType::I32);
  int64_t base = memory_stats().bytes_in_use;
  reset_peak_memory();
  {
    Tensor loss = m.loss(m.forward(ids, Tensor(), RunContext{}), labels);
    loss.backward();
  }
  int64_t peak = memory_stats().peak_bytes - base;
  const_cast<SimpleTronModel&>(m).zero_grad();
  return peak;
}

TEST(ModelMemory, SimpletronPeakIsLinearInN) {
  ModelConfig c = small_config();
  c.vocab_size = 50;
  c.max_len = 2048;
  c.d_model = 32;
  c.heads = 4;
  c.d_ff = 64;
  c.dropout = 0;
  SimpleTronModel st(c);
  int64_t p1 = peak_training_bytes(st, 2, 1024), p2 = peak_training_bytes(st, 2, 2048);
  double ratio = static_cast<double>(p2) / static_cast<double>(p1);
  c.attention = AttentionKind::Softmax;
  SimpleTronModel sm(c);
  int64_t s1 = peak_training_bytes(sm, 2, 1024), s2 = peak_training_bytes(sm, 2, 2048);
  std::printf("[ memory ] peak over forward+backward, N=1024 -> 2048: simpletron %.1f -> %.1f MB "
              "(x%.2f), softmax %.1f -> %.1f MB (x%.2f)\n",
              p1 / 1e6, p2 / 1e6, ratio, s1 / 1e6, s2 / 1e6, double(s2) / double(s1));
  EXPECT_LE(ratio, 2.1);
  EXPECT_GT(double(s2) / double(s1), 3.0) << "softmax is quadratic: the contrast should show";
}

// Every tensor byte of a model, its optimizer state, gradients and a recorded graph is freed with
// them: nothing is kept alive by an ownership cycle (e.g. between a leaf and its accumulator).
TEST(ModelMemory, ModelTrainingStepAndGraphReleaseEveryByte) {
  int64_t before = memory_stats().bytes_in_use;
  for (AttentionKind kind : {AttentionKind::SimpleTron, AttentionKind::Softmax, AttentionKind::LinearElu}) {
    {
      ModelConfig c = small_config();
      c.attention = kind;
      SimpleTronModel model(c);
      AdamW opt(model.named_parameters(), AdamWConfig{});
      Tensor ids = Tensor::from_vector<int32_t>({3, 4, 5, 6, 0, 7, 8, 9, 1, 2, 0, 0}, {2, 6});
      Tensor labels = Tensor::from_vector<int32_t>({1, 2}, {2});
      RunContext ctx{.seed = 3, .step = 1};
      for (int step = 0; step < 2; ++step) {
        opt.zero_grad();
        Tensor loss = model.loss(model.forward(ids, Tensor(), ctx), labels);
        loss.backward();
        opt.step(1e-3);
      }
      EXPECT_GT(memory_stats().bytes_in_use, before);
    }
    EXPECT_EQ(memory_stats().bytes_in_use, before) << name_of(kind) << ": bytes still held after the model died";
  }
}

}  // namespace
}  // namespace st
