// Results are bitwise identical with 1 and 2 threads (OpenMP and BLAS): reductions use a fixed
// blocking, scatter-adds a fixed order.
#include "tests/core/test_util.h"

namespace st {
namespace {

struct Outputs {
  std::vector<Tensor> values;
};

// A forward + backward through every op family, on sizes large enough to run in parallel.
Outputs run_model() {
  Tensor x = Tensor::randn({8, 300, 64}, 1);
  Tensor w1 = Tensor::randn({64, 256}, 2, 0.1).set_requires_grad(true);
  Tensor w2 = Tensor::randn({256, 64}, 3, 0.1).set_requires_grad(true);
  Tensor g = Tensor::ones({64}).set_requires_grad(true);
  Tensor b = Tensor::zeros({64}).set_requires_grad(true);
  Tensor table = Tensor::randn({1000, 64}, 4).set_requires_grad(true);
  Tensor ids = Tensor::uniform({8, 300}, 5, 0, 1000, DType::I32);
  Tensor h = add(x, embedding(table, ids));
  h = layer_norm(h, g, b, 1e-6);
  h = dropout(gelu(matmul(h, w1)), 0.1f, RngKey{3, 1, 1});
  h = matmul(h, w2);
  Tensor logits = h.reshape({-1, 64});
  Tensor labels = Tensor::uniform({8 * 300}, 6, 0, 64, DType::I32);
  Tensor loss = add(cross_entropy(logits, labels), mean_all(softmax(h)));
  loss.backward();
  Tensor big = Tensor::randn({3000000}, 7);
  return {{loss, w1.grad(), w2.grad(), g.grad(), b.grad(), table.grad(), sum_all(big),
           sum(big.reshape({3000, 1000}), {0})}};
}

TEST(Determinism, OneAndTwoThreadsGiveBitwiseIdenticalResults) {
  int before = num_threads();
  set_num_threads(1);
  Outputs one = run_model();
  set_num_threads(2);
  Outputs two = run_model();
  set_num_threads(before);
  ASSERT_EQ(one.values.size(), two.values.size());
  for (size_t i = 0; i < one.values.size(); ++i)
    EXPECT_TRUE(testing::bitwise_equal(one.values[i], two.values[i])) << "output " << i;
}

TEST(Determinism, RepeatedRunsAreBitwiseIdentical) {
  Outputs a = run_model(), b = run_model();
  for (size_t i = 0; i < a.values.size(); ++i)
    EXPECT_TRUE(testing::bitwise_equal(a.values[i], b.values[i])) << "output " << i;
}

// A product whose output is under 512 on both sides but whose inner dimension is long (a weight
// gradient X^T dY) is cut in two along its longer side (core/backend/cpu/cpu_gemm.cpp): in every
// transpose case, with an odd size on each side, it gives the same bits with 1 and 2 threads,
// and the values of the product in double.
TEST(Determinism, TiledProductsMatchDoubleAndOneThread) {
  const int64_t k = 600;
  for (auto [m, n] : {std::pair<int64_t, int64_t>{301, 299}, {299, 301}}) {  // rows, then columns in two
    Tensor a = Tensor::randn({k, m}, 11), b = Tensor::randn({k, n}, 12);
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        Tensor lhs = ta ? a.transpose(0, 1) : a.transpose(0, 1).contiguous();               // (m, k)
        Tensor rhs = tb ? b.transpose(0, 1).contiguous().transpose(0, 1) : b.contiguous();  // (k, n)
        int before = num_threads();
        set_num_threads(1);
        Tensor one = matmul(lhs, rhs);
        set_num_threads(2);
        Tensor two = matmul(lhs, rhs);
        set_num_threads(before);
        EXPECT_TRUE(testing::bitwise_equal(one, two)) << m << " x " << n << " trans " << ta << tb;
        Tensor exact = matmul(lhs.to(DType::F64), rhs.to(DType::F64));
        EXPECT_LE(testing::rel_error(two.to(DType::F64), exact), 1e-5) << m << " x " << n << " trans " << ta << tb;
      }
  }
}

}  // namespace
}  // namespace st
