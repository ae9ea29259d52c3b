// The per-part clock (core/autograd/part_times.h): forward time goes to the scope it is spent in,
// a node's backward to the part it was recorded in, nested scopes are exclusive, and nothing is
// counted while timing is off.
#include <gtest/gtest.h>

#include <chrono>

#include "core/autograd/part_times.h"
#include "core/ops/ops.h"

namespace st {
namespace {

using Clock = std::chrono::steady_clock;

void spin(double seconds) {
  auto t0 = Clock::now();
  while (std::chrono::duration<double>(Clock::now() - t0).count() < seconds) {
  }
}

double part(const std::array<double, kModelParts>& row, ModelPart p) { return row[static_cast<size_t>(p)]; }

double total(const PartTimes& t) {
  double s = 0;
  for (int p = 0; p < kModelParts; ++p) s += t.forward[static_cast<size_t>(p)] + t.backward[static_cast<size_t>(p)];
  return s;
}

TEST(PartTimes, NestedScopesAreExclusive) {
  reset_part_times();
  set_part_timing(true);
  auto t0 = Clock::now();
  {
    PartScope attention(ModelPart::Attention);
    spin(0.005);
    {
      PartScope ffn(ModelPart::Ffn);
      spin(0.005);
    }
  }
  double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  PartTimes t = part_times();
  set_part_timing(false);
  EXPECT_GE(part(t.forward, ModelPart::Attention), 0.005);
  EXPECT_GE(part(t.forward, ModelPart::Ffn), 0.005);
  EXPECT_LE(total(t), elapsed + 1e-3) << "the intervals overlap";
  EXPECT_EQ(part(t.backward, ModelPart::Attention), 0.0);
  EXPECT_EQ(current_model_part(), ModelPart::Other);
}

TEST(PartTimes, BackwardRunsUnderThePartANodeWasRecordedIn) {
  Tensor x = Tensor::randn({256, 256}, 1).set_requires_grad(true);
  reset_part_times();
  set_part_timing(true);
  Tensor y, z;
  {
    PartScope attention(ModelPart::Attention);
    y = matmul(x, x);
  }
  {
    PartScope ffn(ModelPart::Ffn);
    z = gelu(y);
  }
  sum_all(z).backward();
  PartTimes t = part_times();
  set_part_timing(false);
  EXPECT_GT(part(t.forward, ModelPart::Attention), 0.0);
  EXPECT_GT(part(t.backward, ModelPart::Attention), 0.0) << "matmul's backward";
  EXPECT_GT(part(t.backward, ModelPart::Ffn), 0.0) << "gelu's backward";
  EXPECT_EQ(part(t.backward, ModelPart::Head), 0.0);
  EXPECT_EQ(part(t.forward, ModelPart::Head), 0.0);
}

TEST(PartTimes, NothingIsCountedWhileTimingIsOff) {
  reset_part_times();
  {
    PartScope attention(ModelPart::Attention);
    EXPECT_EQ(current_model_part(), ModelPart::Attention);
    spin(0.002);
  }
  EXPECT_EQ(total(part_times()), 0.0);
  EXPECT_STREQ(model_part_name(ModelPart::Head), "head");
}

}  // namespace
}  // namespace st
