// linear(x, W, b) (one GEMM starting from the broadcast bias) against matmul + add, and its
// gradients by finite differences in fp64, on awkward shapes and a non-contiguous input.
#include "core/autograd/gradcheck.h"
#include "tests/core/test_util.h"

namespace st {
namespace {

using testing::rand64;
using testing::rel_error;
using Inputs = std::vector<Tensor>;

TEST(LinearOp, EqualsMatmulPlusBias) {
  for (Shape xs : {Shape{1, 5}, Shape{7, 5}, Shape{2, 33, 5}}) {
    Tensor x = rand64(xs, 1, false), w = rand64({3, 5}, 2, false), b = rand64({3}, 3, false);
    EXPECT_LT(rel_error(linear(x, w, b), add(matmul(x, w.transpose(0, 1)), b)), 1e-14);
    EXPECT_LT(rel_error(linear(x, w, Tensor()), matmul(x, w.transpose(0, 1))), 1e-14);
  }
}

TEST(LinearOp, GradientsMatchFiniteDifferences) {
  Inputs in{rand64({2, 7, 5}, 4), rand64({3, 5}, 5), rand64({3}, 6)};
  GradcheckResult r = gradcheck([](const Inputs& x) { return linear(x[0], x[1], x[2]); }, in);
  EXPECT_TRUE(r.ok) << r.message;
  Inputs t{rand64({5, 7}, 7), rand64({3, 5}, 8), rand64({3}, 9)};  // x as a transposed view
  r = gradcheck([](const Inputs& x) { return linear(x[0].transpose(0, 1), x[1], x[2]); }, t);
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(LinearOp, RejectsMismatchedShapes) {
  Tensor x = rand64({7, 5}, 10, false);
  EXPECT_THROW(linear(x, rand64({3, 4}, 11, false), Tensor()), Error);
  EXPECT_THROW(linear(x, rand64({3, 5}, 12, false), rand64({4}, 13, false)), Error);
}

}  // namespace
}  // namespace st
