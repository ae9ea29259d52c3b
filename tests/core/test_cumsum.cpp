// cumsum: running sums along one axis, inclusive or exclusive, forward or reverse, against a
// plain loop (fp64), its gradient by finite differences, and bitwise independence of the
// thread count.
#include <gtest/gtest.h>

#include "core/autograd/gradcheck.h"
#include "core/backend/backend.h"
#include "core/ops/ops.h"
#include "tests/core/test_util.h"

namespace st {
namespace {

// The running sum by a plain loop over x (outer, r, inner) as nested vectors.
std::vector<double> loop_cumsum(const std::vector<double>& x, int64_t outer, int64_t r,
                                int64_t inner, bool exclusive, bool reverse) {
  std::vector<double> y(x.size());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < inner; ++j)
      for (int64_t i = 0; i < r; ++i) {
        double acc = 0;
        for (int64_t k = 0; k < r; ++k) {
          bool in = reverse ? (exclusive ? k > i : k >= i) : (exclusive ? k < i : k <= i);
          if (in) acc += x[(o * r + k) * inner + j];
        }
        y[(o * r + i) * inner + j] = acc;
      }
  return y;
}

TEST(Cumsum, MatchesALoopForEveryAxisAndMode) {
  Tensor x = testing::rand64({3, 5, 4}, 1, false);
  std::vector<double> xv = x.to_vector<double>();
  for (int axis : {0, 1, 2, -1})
    for (bool exclusive : {false, true})
      for (bool reverse : {false, true}) {
        int a = axis < 0 ? 2 : axis;
        int64_t outer = 1, inner = 1;
        for (int d = 0; d < a; ++d) outer *= x.size(d);
        for (int d = a + 1; d < 3; ++d) inner *= x.size(d);
        std::vector<double> want = loop_cumsum(xv, outer, x.size(a), inner, exclusive, reverse);
        std::vector<double> got = cumsum(x, axis, exclusive, reverse).to_vector<double>();
        ASSERT_EQ(got.size(), want.size());
        for (size_t i = 0; i < got.size(); ++i)
          EXPECT_NEAR(got[i], want[i], 1e-12) << "axis " << axis << " exclusive " << exclusive
                                              << " reverse " << reverse << " element " << i;
      }
}

TEST(Cumsum, ExclusiveStartsAtZeroAndStridedInputsWork) {
  Tensor x = Tensor::from_vector<double>({1, 2, 3, 4, 5, 6}, {2, 3});
  testing::expect_values(cumsum(x, 1, true), {0, 1, 3, 0, 4, 9}, 0);
  testing::expect_values(cumsum(x.transpose(0, 1), 1), {1, 5, 2, 7, 3, 9}, 0);
  testing::expect_values(cumsum(x, 0, false, true), {5, 7, 9, 4, 5, 6}, 0);
}

TEST(Cumsum, GradientsMatchFiniteDifferences) {
  for (bool exclusive : {false, true})
    for (bool reverse : {false, true}) {
      GradcheckResult r = gradcheck(
          [&](const std::vector<Tensor>& x) { return cumsum(x[0], 1, exclusive, reverse); },
          {testing::rand64({2, 6, 3}, 2)});
      EXPECT_TRUE(r.ok) << r.message;
    }
}

TEST(Cumsum, WideRowsAreSummedLikeOneColumn) {
  // Columns are summed in tiles of 64 adjacent ones (core/math/scan.h): 150 columns leave a
  // partial tile; f32 results round the same double sums as the loop, so they are equal bitwise.
  Tensor x = Tensor::randn({2, 9, 150}, 4);
  std::vector<double> xv = x.to(DType::F64).to_vector<double>();
  for (bool exclusive : {false, true})
    for (bool reverse : {false, true}) {
      std::vector<double> want = loop_cumsum(xv, 2, 9, 150, exclusive, reverse);
      std::vector<float> got = cumsum(x, 1, exclusive, reverse).to_vector<float>();
      ASSERT_EQ(got.size(), want.size());
      for (size_t i = 0; i < got.size(); ++i)
        ASSERT_EQ(got[i], static_cast<float>(want[i])) << "exclusive " << exclusive << " reverse " << reverse
                                                       << " element " << i;
    }
}

TEST(Cumsum, ResultDoesNotDependOnTheThreadCount) {
  Tensor x = Tensor::randn({64, 300, 17}, 3);
  int before = num_threads();
  set_num_threads(1);
  Tensor one = cumsum(x, 1);
  set_num_threads(2);
  Tensor two = cumsum(x, 1);
  set_num_threads(before);
  EXPECT_TRUE(testing::bitwise_equal(one, two));
}

}  // namespace
}  // namespace st
