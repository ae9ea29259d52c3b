// The autograd engine: scalar and seeded backward, accumulation into leaves, no-grad scopes,
// detach, grad-ready hooks and their order, freed graphs, and memory released with the tensors
// (no ownership cycle between a leaf and its accumulator).
#include <memory>

#include "core/tensor/allocator.h"
#include "tests/core/test_util.h"

namespace st {
namespace {

TEST(Autograd, ScalarBackwardGivesAnalyticGradients) {
  Tensor x = Tensor::from_vector<double>({1, 2, 3}, {3}).set_requires_grad(true);
  Tensor y = sum_all(mul(x, x));  // d/dx = 2x
  y.backward();
  testing::expect_values(x.grad(), {2, 4, 6}, 0);
}

TEST(Autograd, BackwardWithGivenGradient) {
  Tensor x = Tensor::from_vector<double>({1, 2, 3, 4}, {2, 2}).set_requires_grad(true);
  Tensor y = scale(x, 3.0);
  y.backward(Tensor::from_vector<double>({1, 0, 2, 0}, {2, 2}));
  testing::expect_values(x.grad(), {3, 0, 6, 0}, 0);
}

TEST(Autograd, GradientsAccumulateIntoLeaves) {
  Tensor x = Tensor::from_vector<double>({1, -1}, {2}).set_requires_grad(true);
  sum_all(scale(x, 2.0)).backward();
  sum_all(scale(x, 5.0)).backward();
  testing::expect_values(x.grad(), {7, 7}, 0);
  x.zero_grad();
  EXPECT_FALSE(x.grad().defined());
}

TEST(Autograd, LeafUsedTwiceSumsBothPaths) {
  Tensor x = Tensor::from_vector<double>({2}, {1}).set_requires_grad(true);
  Tensor y = sum_all(add(mul(x, x), scale(x, 3.0)));  // 2x + 3
  y.backward();
  testing::expect_values(x.grad(), {7}, 0);
}

TEST(Autograd, NoGradGuardRecordsNothing) {
  Tensor x = Tensor::ones({3}).set_requires_grad(true);
  Tensor y;
  {
    NoGradGuard ng;
    y = scale(x, 2.0);
    EXPECT_FALSE(grad_mode_enabled());
  }
  EXPECT_TRUE(grad_mode_enabled());
  EXPECT_FALSE(y.requires_grad());
  EXPECT_TRUE(scale(x, 2.0).requires_grad());
}

TEST(Autograd, DetachStopsGradientAndSharesStorage) {
  Tensor x = Tensor::from_vector<double>({1, 2}, {2}).set_requires_grad(true);
  Tensor d = mul(x, x).detach();
  EXPECT_FALSE(d.requires_grad());
  Tensor y = sum_all(add(mul(d, x), x));  // d treated as constant: grad = d + 1
  y.backward();
  testing::expect_values(x.grad(), {2, 5}, 0);
  Tensor v = x.detach();
  EXPECT_TRUE(v.same_storage(x));
}

TEST(Autograd, HooksFireOnceWithFinalGradientInDeterministicOrder) {
  Tensor a = Tensor::ones({2}, DType::F64).set_requires_grad(true);
  Tensor b = Tensor::ones({2}, DType::F64).set_requires_grad(true);
  std::vector<std::string> events;
  std::vector<double> seen;
  a.register_grad_ready_hook([&](const Tensor& g) {
    events.push_back("a");
    seen.push_back(g.to_vector<double>()[0]);
  });
  b.register_grad_ready_hook([&](const Tensor&) { events.push_back("b"); });
  // a is used early and late in the graph; its hook must fire after both uses. (Statements,
  // not nested calls: C++ leaves the order of argument evaluation unspecified.)
  auto build = [&] {
    Tensor h = mul(a, b);
    Tensor h2 = scale(h, 2.0);
    Tensor a10 = scale(a, 10.0);
    return sum_all(add(h2, a10));
  };
  build().backward();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(seen[0], 12.0);
  std::vector<std::string> first = events;
  // Same graph again: same order.
  events.clear();
  a.zero_grad();
  b.zero_grad();
  build().backward();
  EXPECT_EQ(events, first);
}

TEST(Autograd, HookOfLayerIsReadyBeforeEarlierLayersRun) {
  // In a chain x -> w1 -> w2 -> loss, w2's gradient is final before w1's backward runs.
  Tensor x = Tensor::randn({4, 3}, 1, 1.0, DType::F64);
  Tensor w1 = Tensor::randn({3, 3}, 2, 1.0, DType::F64).set_requires_grad(true);
  Tensor w2 = Tensor::randn({3, 2}, 3, 1.0, DType::F64).set_requires_grad(true);
  std::vector<std::string> order;
  w1.register_grad_ready_hook([&](const Tensor&) { order.push_back("w1"); });
  w2.register_grad_ready_hook([&](const Tensor&) { order.push_back("w2"); });
  sum_all(matmul(gelu(matmul(x, w1)), w2)).backward();
  EXPECT_EQ(order, (std::vector<std::string>{"w2", "w1"}));
}

TEST(Autograd, SecondBackwardThroughFreedGraphIsAnError) {
  Tensor x = Tensor::ones({2}, DType::F64).set_requires_grad(true);
  Tensor y = sum_all(st::exp(x));
  y.backward();
  EXPECT_THROW(y.backward(), Error);
  Tensor z = sum_all(st::exp(x));
  z.backward(Tensor(), /*retain_graph=*/true);
  z.backward();
  testing::expect_values(x.grad(), {3 * std::exp(1.0), 3 * std::exp(1.0)}, 1e-12);
}

TEST(Autograd, LeafUsedInAGraphIsReleasedWithItsGradientAndHooks) {
  int64_t before = memory_stats().bytes_in_use;
  std::weak_ptr<AutogradMeta> meta;
  {
    Tensor x = Tensor::ones({1000}).set_requires_grad(true);  // 4000 bytes, and 4000 of .grad
    x.register_grad_ready_hook([](const Tensor&) {});
    sum_all(mul(x, x)).backward();
    ASSERT_TRUE(x.grad().defined());
    meta = x.impl().autograd;
    EXPECT_GT(memory_stats().bytes_in_use, before);
  }
  EXPECT_TRUE(meta.expired()) << "the leaf's autograd metadata outlived its tensor";
  EXPECT_EQ(memory_stats().bytes_in_use, before) << "bytes of the leaf or its gradient not freed";
}

TEST(Autograd, GradientOfALeafDroppedBeforeBackwardIsDiscarded) {
  Tensor kept = Tensor::from_vector<double>({3}, {1}).set_requires_grad(true);
  Tensor y;
  {
    Tensor dropped = Tensor::from_vector<double>({2}, {1}).set_requires_grad(true);
    y = sum_all(mul(kept, dropped));
  }
  y.backward();  // the dropped leaf's accumulator finds no leaf: nothing to write, no error
  testing::expect_values(kept.grad(), {2}, 0);
}

TEST(Autograd, IntegerTensorsCannotRequireGrad) {
  Tensor i = Tensor::zeros({2}, DType::I32);
  EXPECT_THROW(i.set_requires_grad(true), Error);
}

}  // namespace
}  // namespace st
