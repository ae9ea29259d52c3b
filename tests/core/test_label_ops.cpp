// The label and id ops without gradient (core/ops/labels.cpp): compare_scalar, count_not_equal,
// argmax_hits (the first largest logit wins ties) and attention_scale (core/math/attention_scale.h).
#include <gtest/gtest.h>

#include <cmath>

#include "core/ops/ops.h"
#include "tests/support/expect_error.h"

namespace st {
namespace {

TEST(LabelOps, CompareScalarGivesOnesAndZerosInTheRequestedDtype) {
  Tensor x = Tensor::from_vector<int32_t>({0, 3, 0, -100, 7, 3}, {2, 3});
  EXPECT_EQ(compare_scalar(x, CompareOp::NotEqual, 0, DType::F32).to_vector<float>(),
            (std::vector<float>{0, 1, 0, 1, 1, 1}));
  EXPECT_EQ(compare_scalar(x, CompareOp::Equal, 3, DType::I32).to_vector<int32_t>(),
            (std::vector<int32_t>{0, 1, 0, 0, 0, 1}));
  EXPECT_EQ(compare_scalar(x, CompareOp::Equal, 0, DType::F64).shape(), (Shape{2, 3}));
  EXPECT_EQ(count_not_equal(x, -100).item(), 5.0);
  EXPECT_EQ(count_not_equal(Tensor::zeros({0}, DType::I32), 0).item(), 0.0);
  testing::expect_error([&] { compare_scalar(Tensor::zeros({2}), CompareOp::Equal, 0, DType::F32); },
                        {"compare_scalar", "i32", "f32"});
}

TEST(LabelOps, ArgmaxHitsCountsRowsWhoseFirstLargestLogitIsTheLabel) {
  // Row 0: max at 2. Row 1: a tie between 0 and 2, the first wins. Row 2: ignored. Row 3: miss.
  Tensor logits = Tensor::from_vector<float>({0, 1, 5, 4, 2, 4, 9, 9, 9, 1, 0, 0}, {4, 3});
  EXPECT_EQ(argmax_hits(logits, Tensor::from_vector<int32_t>({2, 0, -100, 1}, {4}), -100).item(), 2.0);
  EXPECT_EQ(argmax_hits(logits, Tensor::from_vector<int32_t>({2, 2, 0, 0}, {4}), -100).item(), 3.0);
  // ignore 0: rows 2 and 3 do not count; row 0 hits, row 1 (argmax 0) misses.
  EXPECT_EQ(argmax_hits(logits.to(DType::F64), Tensor::from_vector<int32_t>({2, 2, 0, 0}, {4}), 0).item(), 1.0);
  testing::expect_error([&] { argmax_hits(logits, Tensor::zeros({3}, DType::I32), -100); },
                        {"argmax_hits", "(4, 3)", "(3,)"});
}

TEST(LabelOps, AttentionScaleFollowsTheModeAndIsZeroWithoutTokens) {
  Tensor n = Tensor::from_vector<double>({0, 1, 4, 16}, {4});
  auto close = [](const std::vector<double>& got, const std::vector<double>& want) {
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) EXPECT_DOUBLE_EQ(got[i], want[i]) << i;
  };
  close(attention_scale(n, ScaleMode::SqrtN, 8, DType::F64).to_vector<double>(), {0, 1, 0.5, 0.25});
  close(attention_scale(n, ScaleMode::SqrtNDh, 4, DType::F64).to_vector<double>(), {0, 0.5, 0.25, 0.125});
  close(attention_scale(n, ScaleMode::N, 8, DType::F64).to_vector<double>(), {0, 1, 0.25, 0.0625});
  close(attention_scale(n, ScaleMode::None, 8, DType::F64).to_vector<double>(), {0, 1, 1, 1});
  EXPECT_EQ(attention_scale(n, ScaleMode::SqrtN, 8, DType::F32).dtype(), DType::F32);
}

}  // namespace
}  // namespace st
