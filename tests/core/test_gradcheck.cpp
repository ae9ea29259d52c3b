// Finite-difference gradient checks in fp64 for every op, on awkward shapes (sizes 1, 7, 33,
// size-1 dimensions) and on non-contiguous views.
#include "core/autograd/gradcheck.h"
#include "tests/core/test_util.h"

namespace st {
namespace {

using testing::rand64;
using Inputs = std::vector<Tensor>;

void expect_gradcheck(const std::function<Tensor(const Inputs&)>& f, const Inputs& in,
                      GradcheckOptions opt = {}) {
  GradcheckResult r = gradcheck(f, in, opt);
  EXPECT_TRUE(r.ok) << r.message << " (max abs error " << r.max_abs_error << ")";
}

TEST(Gradcheck, AddSubMulDivWithBroadcasting) {
  Inputs in{rand64({7, 1, 3}, 1), rand64({5, 3}, 2)};
  expect_gradcheck([](const Inputs& x) { return add(x[0], x[1]); }, in);
  expect_gradcheck([](const Inputs& x) { return sub(x[0], x[1]); }, in);
  expect_gradcheck([](const Inputs& x) { return mul(x[0], x[1]); }, in);
  Inputs pos{rand64({7, 1, 3}, 3), add_scalar(rand64({5, 3}, 4, false), 5.0).detach()};
  pos[1].set_requires_grad(true);
  expect_gradcheck([](const Inputs& x) { return div(x[0], x[1]); }, pos);
}

TEST(Gradcheck, ScalarAffineOps) {
  Inputs in{rand64({33}, 5)};
  expect_gradcheck([](const Inputs& x) { return scale(x[0], -2.5); }, in);
  expect_gradcheck([](const Inputs& x) { return add_scalar(x[0], 0.75); }, in);
  expect_gradcheck([](const Inputs& x) { return neg(x[0]); }, in);
}

TEST(Gradcheck, MaskedFill) {
  Tensor mask = Tensor::from_vector<int32_t>({1, 0, 0, 1, 0, 1, 1}, {1, 7});
  Inputs in{rand64({3, 7}, 6)};
  expect_gradcheck([mask](const Inputs& x) { return masked_fill(x[0], mask, -4.0); }, in);
}

TEST(Gradcheck, Activations) {
  Inputs in{rand64({7, 33}, 7)};
  expect_gradcheck([](const Inputs& x) { return gelu(x[0], GeluKind::Tanh); }, in);
  expect_gradcheck([](const Inputs& x) { return gelu(x[0], GeluKind::Erf); }, in);
  expect_gradcheck([](const Inputs& x) { return st::tanh(x[0]); }, in);
  expect_gradcheck([](const Inputs& x) { return st::exp(x[0]); }, in);
  expect_gradcheck([](const Inputs& x) { return elu_plus_one(x[0]); }, in);
  // ReLU and log away from their kinks / domain edge.
  Inputs away{add_scalar(rand64({7, 33}, 8, false), 0.0).detach()};
  {
    double* p = away[0].data<double>();
    for (int64_t i = 0; i < away[0].numel(); ++i) p[i] += p[i] > 0 ? 0.1 : -0.1;
  }
  away[0].set_requires_grad(true);
  expect_gradcheck([](const Inputs& x) { return relu(x[0]); }, away);
  Tensor r = rand64({7, 5}, 9, false);
  Inputs positive{add_scalar(mul(r, r), 0.5).detach()};
  positive[0].set_requires_grad(true);
  expect_gradcheck([](const Inputs& x) { return st::log(x[0]); }, positive);
}

TEST(Gradcheck, MatmulShapes) {
  expect_gradcheck([](const Inputs& x) { return matmul(x[0], x[1]); },
                   {rand64({7, 33}, 11), rand64({33, 1}, 12)});
  expect_gradcheck([](const Inputs& x) { return matmul(x[0], x[1]); },
                   {rand64({1, 5}, 13), rand64({5, 7}, 14)});
  // Batched, and batched against a shared 2-D matrix.
  expect_gradcheck([](const Inputs& x) { return matmul(x[0], x[1]); },
                   {rand64({2, 3, 7, 5}, 15), rand64({2, 3, 5, 4}, 16)});
  expect_gradcheck([](const Inputs& x) { return matmul(x[0], x[1]); },
                   {rand64({3, 7, 5}, 17), rand64({5, 6}, 18)});
}

TEST(Gradcheck, MatmulOnNonContiguousViews) {
  // Transposed operands (passed to BLAS as transposed) and a permuted batch (copied).
  expect_gradcheck([](const Inputs& x) { return matmul(x[0].transpose(0, 1), x[1].transpose(0, 1)); },
                   {rand64({5, 7}, 19), rand64({3, 5}, 20)});
  expect_gradcheck([](const Inputs& x) { return matmul(x[0].permute({1, 0, 2}), x[1]); },
                   {rand64({7, 3, 5}, 21), rand64({3, 5, 2}, 22)});
  expect_gradcheck([](const Inputs& x) { return matmul(x[0].narrow(1, 1, 4), x[1]); },
                   {rand64({3, 6}, 23), rand64({4, 2}, 24)});
}

TEST(Gradcheck, Reductions) {
  Inputs in{rand64({3, 1, 7, 5}, 25)};
  expect_gradcheck([](const Inputs& x) { return sum(x[0], {0, 2}); }, in);
  expect_gradcheck([](const Inputs& x) { return sum(x[0], {-1}, true); }, in);
  expect_gradcheck([](const Inputs& x) { return mean(x[0], {1, 2, 3}); }, in);
  expect_gradcheck([](const Inputs& x) { return sum_all(x[0]); }, in);
  expect_gradcheck([](const Inputs& x) { return mean_all(x[0].transpose(0, 3)); }, in);
}

TEST(Gradcheck, ShapeOps) {
  Inputs in{rand64({2, 3, 7}, 26)};
  expect_gradcheck([](const Inputs& x) { return x[0].reshape({7, -1}); }, in);
  expect_gradcheck([](const Inputs& x) { return x[0].permute({2, 0, 1}).reshape({-1}); }, in);
  expect_gradcheck([](const Inputs& x) { return x[0].transpose(0, 2).contiguous(); }, in);
  expect_gradcheck([](const Inputs& x) { return x[0].narrow(2, 2, 5); }, in);
  expect_gradcheck([](const Inputs& x) { return expand(x[0].narrow(1, 0, 1), {4, 2, 5, 7}); }, in);
  expect_gradcheck([](const Inputs& x) { return x[0].clone(); }, in);
  expect_gradcheck([](const Inputs& x) { return concat({x[0], x[1], x[0]}, 1); },
                   {rand64({2, 3, 7}, 27), rand64({2, 1, 7}, 28)});
}

TEST(Gradcheck, LayerNorm) {
  Inputs in{rand64({7, 33}, 29), rand64({33}, 30), rand64({33}, 31)};
  expect_gradcheck([](const Inputs& x) { return layer_norm(x[0], x[1], x[2], 1e-6); }, in);
  Inputs one{rand64({3, 1, 5}, 32), rand64({5}, 33), rand64({5}, 34)};
  expect_gradcheck([](const Inputs& x) { return layer_norm(x[0].transpose(0, 1), x[1], x[2], 1e-5); },
                   one);
}

TEST(Gradcheck, SoftmaxAndLogSoftmax) {
  Inputs in{rand64({7, 33}, 35)};
  expect_gradcheck([](const Inputs& x) { return softmax(x[0]); }, in);
  expect_gradcheck([](const Inputs& x) { return log_softmax(x[0]); }, in);
  expect_gradcheck([](const Inputs& x) { return softmax(x[0].transpose(0, 1)); }, in);
  expect_gradcheck([](const Inputs& x) { return log_softmax(x[0].narrow(1, 0, 1)); }, in);
}

TEST(Gradcheck, CrossEntropyVariants) {
  Tensor labels = Tensor::from_vector<int32_t>({0, 6, -100, 3, 3, 1, 2}, {7});
  Inputs in{rand64({7, 7}, 36)};
  for (double smoothing : {0.0, 0.1}) {
    for (Reduction red : {Reduction::Mean, Reduction::Sum, Reduction::None}) {
      CrossEntropyOptions opt;
      opt.label_smoothing = smoothing;
      opt.reduction = red;
      expect_gradcheck([&](const Inputs& x) { return cross_entropy(x[0], labels, opt); }, in);
    }
  }
  Tensor one = Tensor::from_vector<int32_t>({0}, {1});
  expect_gradcheck([&](const Inputs& x) { return cross_entropy(x[0], one); }, {rand64({1, 1}, 37)});
}

TEST(Gradcheck, Embedding) {
  Tensor ids = Tensor::from_vector<int32_t>({3, 0, 3, 6, 1, 3}, {2, 3});
  Inputs in{rand64({7, 5}, 38)};
  expect_gradcheck([&](const Inputs& x) { return embedding(x[0], ids); }, in);
}

TEST(Gradcheck, Dropout) {
  RngKey key{42, 7, 3};
  Inputs in{rand64({7, 33}, 39)};
  expect_gradcheck([&](const Inputs& x) { return dropout(x[0], 0.3f, key); }, in);
  expect_gradcheck([&](const Inputs& x) { return dropout(x[0].transpose(0, 1), 0.5f, key); }, in);
}

TEST(Gradcheck, ComposedBlock) {
  // A pre-LN residual block: x + W2 gelu(W1 LN(x)), through a shared leaf used twice.
  Inputs in{rand64({2, 7, 5}, 40), rand64({5}, 41), rand64({5}, 42), rand64({5, 9}, 43),
            rand64({9, 5}, 44)};
  expect_gradcheck(
      [](const Inputs& x) {
        Tensor h = layer_norm(x[0], x[1], x[2], 1e-6);
        return add(x[0], matmul(gelu(matmul(h, x[3])), x[4]));
      },
      in);
}

}  // namespace
}  // namespace st
