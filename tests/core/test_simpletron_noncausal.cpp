// Non-causal SimpleTRON attention (core/ops/simpletron/noncausal.cpp): heads_state / heads_apply
// (per-head products in the (B, N, H*c) layout) against the same
// products on permuted (B, H, N, c) copies, forward in fp64 and gradients by finite differences;
// inputs include strided rows (narrow views of a wider tensor) and awkward sizes.
#include "core/autograd/gradcheck.h"
#include "tests/core/test_util.h"

namespace st {
namespace {

using testing::rand64;
using testing::rel_error;
using Inputs = std::vector<Tensor>;

// (B, N, H*c) -> (B, H, N, c)
Tensor split_heads(const Tensor& x, int64_t H) {
  int64_t B = x.size(0), N = x.size(1), c = x.size(2) / H;
  return x.contiguous().reshape({B, N, H, c}).permute({0, 2, 1, 3});
}

TEST(HeadProducts, StateEqualsPermutedMatmul) {
  for (auto [B, N, H, dk, dv] : {std::array<int64_t, 5>{1, 1, 1, 1, 1}, {2, 7, 3, 5, 2}, {3, 33, 4, 8, 8},
                                {5, 9, 2, 3, 4}}) {  // the last with B > H: batched over rows
    Tensor k = rand64({B, N, H * dk}, 1, false), v = rand64({B, N, H * dv}, 2, false);
    Tensor s = heads_state(k, v, H);
    Tensor ref = matmul(split_heads(k, H).transpose(2, 3), split_heads(v, H));
    EXPECT_EQ(s.shape(), (Shape{B, H, dk, dv}));
    EXPECT_LT(rel_error(s, ref), 1e-13);
  }
}

TEST(HeadProducts, ApplyEqualsPermutedMatmulOnStridedRows) {
  for (int64_t B : {2, 4}) {  // B <= H and B > H take different GEMM batchings
    int64_t N = 7, H = 3, dk = 5, dv = 2;
    Tensor wide = rand64({B, N, 3 * H * dk}, 3, false);
    Tensor q = wide.narrow(2, H * dk, H * dk);  // rows strided by 3 H dk
    Tensor s = rand64({B, H, dk, dv}, 4, false);
    Tensor y = heads_apply(q, s);
    Tensor ref = matmul(split_heads(q, H), s).permute({0, 2, 1, 3}).reshape({B, N, H * dv});
    EXPECT_EQ(y.shape(), (Shape{B, N, H * dv}));
    EXPECT_LT(rel_error(y, ref), 1e-13);
  }
}

TEST(HeadProducts, GradientsMatchFiniteDifferences) {
  int64_t H = 3;
  Inputs in{rand64({2, 7, 3 * 5}, 5), rand64({2, 7, 3 * 2}, 6), rand64({2, 7, 3 * 5}, 7)};
  GradcheckResult r = gradcheck(
      [H](const Inputs& x) { return heads_apply(x[2], heads_state(x[0], x[1], H)); }, in);
  EXPECT_TRUE(r.ok) << r.message;
  Inputs rows{rand64({4, 5, 2 * 3}, 9), rand64({4, 5, 2 * 2}, 10), rand64({4, 5, 2 * 3}, 11)};  // B > H
  r = gradcheck([](const Inputs& x) { return heads_apply(x[2], heads_state(x[0], x[1], 2)); }, rows);
  EXPECT_TRUE(r.ok) << r.message;
  // Strided rows: q, k, v as narrow views of one (B, N, 3 D) tensor, as a fused projection gives.
  Inputs fused{rand64({2, 7, 3 * 6}, 8)};
  r = gradcheck(
      [](const Inputs& x) {
        Tensor q = x[0].narrow(2, 0, 6), k = x[0].narrow(2, 6, 6), v = x[0].narrow(2, 12, 6);
        return heads_apply(q, heads_state(k, v, 2));
      },
      fused);
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(HeadProducts, RejectsShapesThatDoNotSplitIntoHeads) {
  Tensor k = rand64({2, 7, 10}, 9, false);
  EXPECT_THROW(heads_state(k, k, 3), Error);
  EXPECT_THROW(heads_apply(k, rand64({2, 2, 4, 4}, 10, false)), Error);
}

}  // namespace
}  // namespace st
