// AdamW, weight-decay groups, learning-rate schedules, gradient clipping and gradient
// accumulation over micro-batches.
#include <gtest/gtest.h>

#include <cmath>

#include "core/nn/model.h"
#include "core/optim/adamw.h"
#include "core/optim/schedule.h"

namespace st {
namespace {

TEST(Schedule, WarmupThenShapes) {
  LrSchedule s{.kind = ScheduleKind::Constant, .lr = 1.0, .warmup = 10, .total_steps = 100};
  EXPECT_DOUBLE_EQ(s.at(1), 0.1);
  EXPECT_DOUBLE_EQ(s.at(5), 0.5);
  EXPECT_DOUBLE_EQ(s.at(10), 1.0);
  EXPECT_DOUBLE_EQ(s.at(90), 1.0);
  s.kind = ScheduleKind::Cosine;
  EXPECT_DOUBLE_EQ(s.at(10), 1.0);
  EXPECT_NEAR(s.at(55), 0.5, 1e-12);
  EXPECT_NEAR(s.at(100), 0.0, 1e-12);
  s.min_ratio = 0.1;
  EXPECT_NEAR(s.at(100), 0.1, 1e-12);
  s.kind = ScheduleKind::Linear;
  s.min_ratio = 0;
  EXPECT_NEAR(s.at(55), 0.5, 1e-12);
  EXPECT_NEAR(s.at(200), 0.0, 1e-12);
}

TEST(Schedule, InverseSqrtOfTheSimpleTronAuthors) {
  // lr * min(1, t/w) / sqrt(max(t, w))
  LrSchedule s{.kind = ScheduleKind::InverseSqrt, .lr = 0.005, .warmup = 1000, .total_steps = 15000};
  EXPECT_NEAR(s.at(1), 0.005 * 0.001 / std::sqrt(1000.0), 1e-15);
  EXPECT_NEAR(s.at(500), 0.005 * 0.5 / std::sqrt(1000.0), 1e-15);
  EXPECT_NEAR(s.at(1000), 0.005 / std::sqrt(1000.0), 1e-15);
  EXPECT_NEAR(s.at(4000), 0.005 / 2 / std::sqrt(1000.0), 1e-15);
  EXPECT_THROW(parse_schedule("inverse-sqrt"), Error);
  EXPECT_EQ(parse_schedule("inverse_sqrt"), ScheduleKind::InverseSqrt);
  EXPECT_THROW((LrSchedule{.lr = -1}.validate()), Error);
}

TEST(AdamW, DecayGroupsByName) {
  AdamWConfig c;
  EXPECT_TRUE(decays("blocks.0.attn.q.weight", c));
  EXPECT_TRUE(decays("head.fc1.weight", c));
  EXPECT_TRUE(decays("lm_head.weight", c));
  EXPECT_FALSE(decays("blocks.0.attn.q.bias", c));
  EXPECT_FALSE(decays("blocks.3.ln1.weight", c));
  EXPECT_FALSE(decays("final_ln.weight", c));
  EXPECT_FALSE(decays("embed.ln.weight", c));
  EXPECT_FALSE(decays("embed.tokens", c));
  c.decay_embeddings = c.decay_biases = c.decay_layernorm = true;
  EXPECT_TRUE(decays("embed.tokens", c));
  EXPECT_TRUE(decays("blocks.0.attn.q.bias", c));
  EXPECT_TRUE(decays("final_ln.weight", c));
}

TEST(AdamW, TwoStepsMatchTheFormula) {
  Tensor p = Tensor::from_vector<float>({1.0f, -2.0f}, {2}).set_requires_grad(true);
  Tensor frozen = Tensor::from_vector<float>({5.0f}, {1}).set_requires_grad(true);
  AdamWConfig c{.beta1 = 0.9, .beta2 = 0.99, .eps = 1e-8, .weight_decay = 0.5};
  AdamW opt({{"w", p}, {"frozen", frozen}}, c);
  double lr = 0.1, pv[2] = {1.0, -2.0}, m[2] = {0, 0}, v[2] = {0, 0};
  double grads[2][2] = {{0.5, -1.0}, {0.25, 2.0}};
  for (int t = 1; t <= 2; ++t) {
    p.set_grad(Tensor::from_vector<float>({float(grads[t - 1][0]), float(grads[t - 1][1])}, {2}));
    opt.step(lr);
    for (int i = 0; i < 2; ++i) {
      double g = grads[t - 1][i];
      m[i] = 0.9 * m[i] + 0.1 * g;
      v[i] = 0.99 * v[i] + 0.01 * g * g;
      pv[i] *= 1 - lr * 0.5;
      pv[i] -= lr / (1 - std::pow(0.9, t)) * m[i] / (std::sqrt(v[i]) / std::sqrt(1 - std::pow(0.99, t)) + 1e-8);
    }
  }
  auto got = p.to_vector<float>();
  EXPECT_NEAR(got[0], pv[0], 1e-6);
  EXPECT_NEAR(got[1], pv[1], 1e-6);
  EXPECT_EQ(frozen.to_vector<float>()[0], 5.0f) << "no gradient: untouched";
  EXPECT_EQ(opt.step_count(), 2);
}

TEST(ClipGradNorm, ReturnsNormAndScalesAboveMax) {
  Tensor a = Tensor::zeros({2}).set_requires_grad(true), b = Tensor::zeros({1}).set_requires_grad(true);
  a.set_grad(Tensor::from_vector<float>({3, 0}, {2}));
  b.set_grad(Tensor::from_vector<float>({4}, {1}));
  EXPECT_NEAR(clip_grad_norm({a, b}, 10.0), 5.0, 1e-6);
  EXPECT_EQ(a.grad().to_vector<float>()[0], 3.0f);
  EXPECT_NEAR(clip_grad_norm({a, b}, 1.0), 5.0, 1e-6);
  EXPECT_NEAR(a.grad().to_vector<float>()[0], 0.6, 1e-6);
  EXPECT_NEAR(b.grad().to_vector<float>()[0], 0.8, 1e-6);
}

TEST(GradientAccumulation, TwoMicroBatchesEqualOneBatch) {
  ModelConfig c;
  c.vocab_size = 30;
  c.max_len = 16;
  c.num_classes = 4;
  c.d_model = 16;
  c.heads = 2;
  c.layers = 2;
  c.d_ff = 32;
  c.dropout = 0;
  SimpleTronModel m(c);
  Tensor ids = Tensor::uniform({8, 12}, 4, 0, 30, DType::I32);
  Tensor labels = Tensor::uniform({8}, 5, 0, 4, DType::I32);
  m.loss(m.forward(ids, Tensor(), RunContext{}), labels).backward();
  std::map<std::string, std::vector<float>> full;
  for (auto& [n, p] : m.named_parameters()) full[n] = p.grad().to_vector<float>();
  m.zero_grad();
  for (int part = 0; part < 2; ++part) {
    Tensor mi = ids.narrow(0, 4 * part, 4), ml = labels.narrow(0, 4 * part, 4).contiguous();
    scale(m.loss(m.forward(mi, Tensor(), RunContext{}), ml), 0.5).backward();
  }
  for (auto& [n, p] : m.named_parameters()) {
    auto g = p.grad().to_vector<float>();
    double num = 0, den = 0;
    for (size_t i = 0; i < g.size(); ++i) {
      num = std::max(num, double(std::fabs(g[i] - full[n][i])));
      den = std::max(den, double(std::fabs(full[n][i])));
    }
    EXPECT_LE(num, 1e-5 * std::max(den, 1e-3)) << n;
  }
}

}  // namespace
}  // namespace st
