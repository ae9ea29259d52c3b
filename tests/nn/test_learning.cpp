// Learning on a small synthetic task: SimpleTRON and softmax attention both find one marked
// token among 64 and read its value at the CLS (300 steps; labelled slow: about 45 s, and 200 s
// under the sanitizers, which cover the same code through the other model tests).
#include <gtest/gtest.h>

#include <cstdio>

#include "core/nn/model.h"
#include "core/optim/adamw.h"
#include "core/optim/schedule.h"

namespace st {
namespace {

// Sequences of tokens 1..8 with one marked token (9..16 = value + 8) somewhere; the label is
// the marked value. The model must find one token among N and read its value at the CLS.
struct MarkedBatch {
  Tensor ids, labels;
};

MarkedBatch marked_batch(int64_t B, int64_t N, uint64_t seed) {
  auto vals = Tensor::uniform({B, N}, seed, 1, 9, DType::I32).to_vector<int32_t>();
  auto pos = Tensor::uniform({B}, seed + 1, 0, N, DType::I32).to_vector<int32_t>();
  auto lab = Tensor::uniform({B}, seed + 2, 0, 8, DType::I32).to_vector<int32_t>();
  for (int64_t b = 0; b < B; ++b) vals[b * N + pos[b]] = lab[b] + 9;
  return {Tensor::from_vector(vals, {B, N}), Tensor::from_vector(lab, {B})};
}

double train_marked(AttentionKind kind, int steps, double* first_loss, double* last_loss) {
  ModelConfig c;
  c.vocab_size = 17;
  c.max_len = 64;
  c.num_classes = 8;
  c.d_model = 32;
  c.heads = 4;
  c.layers = 2;
  c.d_ff = 64;
  c.dropout = 0.0f;
  c.attention = kind;
  SimpleTronModel m(c);
  AdamW opt(m.named_parameters(), AdamWConfig{.weight_decay = 0.01});
  LrSchedule sched{.kind = ScheduleKind::Cosine, .lr = 3e-3, .warmup = 20, .total_steps = steps};
  double running = 0;
  for (int step = 1; step <= steps; ++step) {
    MarkedBatch b = marked_batch(32, 64, 100 + 3 * step);
    opt.zero_grad();
    Tensor loss = m.loss(m.forward(b.ids, Tensor(), RunContext{.seed = 1, .step = uint32_t(step)}), b.labels);
    loss.backward();
    clip_grad_norm(m.parameters(), 1.0);
    opt.step(sched.at(step));
    double l = loss.item();
    if (step <= 10) running += l / 10;
    if (step == 10) *first_loss = running;
    if (step == steps) *last_loss = l;
  }
  m.eval();
  NoGradGuard ng;
  MarkedBatch val = marked_batch(512, 64, 999);
  auto logits = m.forward(val.ids, Tensor(), RunContext{}).to_vector<float>();
  auto y = val.labels.to_vector<int32_t>();
  int right = 0;
  for (int64_t r = 0; r < 512; ++r) {
    int best = 0;
    for (int k = 1; k < 8; ++k)
      if (logits[r * 8 + k] > logits[r * 8 + best]) best = k;
    right += best == y[r];
  }
  return right / 512.0;
}

TEST(ModelLearning, FindsTheMarkedTokenFarAway) {
  for (AttentionKind kind : {AttentionKind::SimpleTron, AttentionKind::Softmax}) {
    double first = 0, last = 0;
    double acc = train_marked(kind, 300, &first, &last);
    std::printf("[ learning ] %s: loss %.3f (first 10 steps) -> %.3f, accuracy %.1f%% (chance 12.5%%)\n",
                name_of(kind), first, last, 100 * acc);
    EXPECT_LT(last, 0.5 * first) << name_of(kind);
    EXPECT_GE(acc, 0.9) << name_of(kind);
  }
}

}  // namespace
}  // namespace st
