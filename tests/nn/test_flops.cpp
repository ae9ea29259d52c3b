// Nominal training FLOPs (core/nn/flops.h) against a hand count for a small configuration:
// 3 sequences of 5 positions, d 8, 2 heads (d_h 4), d_ff 16, 2 blocks.
#include <gtest/gtest.h>

#include "core/nn/flops.h"

namespace st {
namespace {

ModelConfig tiny(AttentionKind kind) {
  ModelConfig c;
  c.vocab_size = 20;
  c.max_len = 4;
  c.d_model = 8;
  c.heads = 2;
  c.layers = 2;
  c.d_ff = 16;
  c.attention = kind;
  return c;
}

TEST(TrainingFlops, MatchesAHandCount) {
  // Multiply-adds per block over T = 15 positions: Q, K, V 15 x 3 x 8 x 8 = 2880; FFN
  // 15 x 2 x 8 x 16 = 3840; attention per head K^T V and Q S, 2 x 15 x 4 x 4, for 2 heads = 960.
  // Two blocks, 2 FLOPs per multiply-add, forward + backward = 3 forwards.
  EXPECT_DOUBLE_EQ(training_flops(tiny(AttentionKind::SimpleTron), 3, 5), 6.0 * 2 * (2880 + 3840 + 960));
  EXPECT_DOUBLE_EQ(training_flops(tiny(AttentionKind::LinearElu), 3, 5), 6.0 * 2 * (2880 + 3840 + 960));
  // Softmax: Q K^T and P V, 3 sequences x 2 heads x 5 x 5 x 4, twice = 1200.
  EXPECT_DOUBLE_EQ(training_flops(tiny(AttentionKind::Softmax), 3, 5), 6.0 * 2 * (2880 + 3840 + 1200));
  // Wo adds 15 x 8 x 8 per block; a language model's output layer 15 x 8 x 20 once.
  ModelConfig wo = tiny(AttentionKind::SimpleTron);
  wo.out_proj = true;
  EXPECT_DOUBLE_EQ(training_flops(wo, 3, 5), 6.0 * 2 * (2880 + 960 + 3840 + 960));
  ModelConfig lm = tiny(AttentionKind::SimpleTron);
  lm.task = TaskKind::LanguageModel;
  EXPECT_DOUBLE_EQ(training_flops(lm, 3, 5), 6.0 * (2 * (2880 + 3840 + 960) + 2400));
  // Linear in N for SimpleTRON, quadratic for softmax.
  ModelConfig s = tiny(AttentionKind::SimpleTron), q = tiny(AttentionKind::Softmax);
  EXPECT_DOUBLE_EQ(training_flops(s, 1, 2000) / training_flops(s, 1, 1000), 2.0);
  EXPECT_GT(training_flops(q, 1, 2000) / training_flops(q, 1, 1000), 3.0);
}

}  // namespace
}  // namespace st
