// Multi-tensor kernels on the CPU: AdamW over a list equals the per-tensor update bitwise, the
// sum of squares equals the per-tensor sum_all(mul(g, g)) summed in double bitwise (and a
// double-precision reference closely), and clip_grad_norm scales every gradient alike.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "core/backend/backend.h"
#include "core/ops/ops.h"
#include "core/optim/adamw.h"

namespace st {
namespace {

const int64_t kSizes[] = {1, 7, 33, 8192, 8193, 100003, 0, 20000};

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  if (a.numel() == 0) return true;  // an empty tensor may have no storage: memcmp needs pointers
  return std::memcmp(a.raw_data(), b.raw_data(), a.numel() * dtype_size(a.dtype())) == 0;
}

std::vector<Tensor> random_list(uint64_t seed, DType t = DType::F32) {
  std::vector<Tensor> xs;
  for (int64_t n : kSizes) xs.push_back(Tensor::randn({n}, seed++, 0.3, t));
  return xs;
}

TEST(MultiTensorAdamW, BitwiseEqualToPerTensorUpdates) {
  std::vector<Backend::AdamWTensor> list;
  std::vector<Tensor> p_ref, m_ref, v_ref;
  uint64_t seed = 100;
  for (int64_t n : kSizes) {
    Tensor p = Tensor::randn({n}, seed++), m = Tensor::randn({n}, seed++, 0.1);
    Tensor v = Tensor::uniform({n}, seed++, 0.0, 0.01), g = Tensor::randn({n}, seed++);
    float lr = 1e-3f * static_cast<float>(list.size() + 1);
    float wd = list.size() % 2 ? 0.0f : 0.1f;  // per-tensor learning rate and weight decay
    AdamWStep step{lr, 0.9f, 0.999f, 1e-8f, wd, 1.0f - 0.9f * 0.9f, 1.0f - 0.999f * 0.999f};
    p_ref.push_back(p.clone());
    m_ref.push_back(m.clone());
    v_ref.push_back(v.clone());
    cpu_backend().adamw_update(p_ref.back(), m_ref.back(), v_ref.back(), g, step);
    list.push_back({p, m, v, g, step});
  }
  cpu_backend().adamw_update_many(list);
  for (size_t k = 0; k < list.size(); ++k) {
    EXPECT_TRUE(bitwise_equal(list[k].p, p_ref[k])) << "p, tensor " << k;
    EXPECT_TRUE(bitwise_equal(list[k].m, m_ref[k])) << "m, tensor " << k;
    EXPECT_TRUE(bitwise_equal(list[k].v, v_ref[k])) << "v, tensor " << k;
  }
}

TEST(MultiTensorAdamW, RejectsMismatchedSizes) {
  Tensor p = Tensor::zeros({5}), g = Tensor::zeros({4});
  AdamWStep step{1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, 0.1f, 0.001f};
  EXPECT_THROW(cpu_backend().adamw_update_many({{p, p.clone(), p.clone(), g, step}}), Error);
}

TEST(SumOfSquares, BitwiseEqualToSumAllOfSquaresPerTensor) {
  for (DType t : {DType::F32, DType::F64}) {
    std::vector<Tensor> xs = random_list(200, t);
    double want = 0;
    for (const Tensor& x : xs) want += sum_all(mul(x, x)).item();
    double got = cpu_backend().sum_of_squares(xs);
    EXPECT_EQ(std::memcmp(&got, &want, sizeof(double)), 0)
        << dtype_name(t) << ": " << got << " vs " << want;
  }
}

TEST(SumOfSquares, MatchesADoublePrecisionReference) {
  std::vector<Tensor> xs = random_list(300);
  double want = 0;
  for (const Tensor& x : xs)
    for (double v : x.to_vector<double>()) want += v * v;
  EXPECT_NEAR(cpu_backend().sum_of_squares(xs), want, 1e-6 * want);
  EXPECT_EQ(cpu_backend().sum_of_squares({}), 0.0);
}

TEST(SumOfSquares, DoesNotDependOnThreadCount) {
  std::vector<Tensor> xs = random_list(400);
  int saved = num_threads();
  set_num_threads(1);
  double one = cpu_backend().sum_of_squares(xs);
  set_num_threads(2);
  double two = cpu_backend().sum_of_squares(xs);
  set_num_threads(saved);
  EXPECT_EQ(std::memcmp(&one, &two, sizeof(double)), 0);
}

TEST(SumOfSquares, RejectsMixedDtypesAndStridedTensors) {
  Tensor a = Tensor::randn({4}, 1), b = Tensor::randn({4}, 2, 1.0, DType::F64);
  EXPECT_THROW(cpu_backend().sum_of_squares({a, b}), Error);
  Tensor m = Tensor::randn({4, 6}, 3);
  EXPECT_THROW(cpu_backend().sum_of_squares({m.narrow(1, 0, 3)}), Error);
}

TEST(ScaleMany, EqualsScalePerTensorBitwise) {
  std::vector<Tensor> xs = random_list(500), want;
  for (const Tensor& x : xs) want.push_back(scale(x, 0.37));
  cpu_backend().scale_many(xs, 0.37);
  for (size_t k = 0; k < xs.size(); ++k) EXPECT_TRUE(bitwise_equal(xs[k], want[k])) << k;
}

TEST(ClipGradNorm, ScalesEveryGradientByOneFactorAndReturnsTheNormBeforehand) {
  std::vector<Tensor> params;
  std::vector<Tensor> grads = random_list(600);
  double want = 0;
  for (const Tensor& g : grads) {
    Tensor p = Tensor::zeros(g.shape()).set_requires_grad(true);
    p.set_grad(g.clone());
    params.push_back(p);
    want += sum_all(mul(g, g)).item();
  }
  params.push_back(Tensor::zeros({3}).set_requires_grad(true));  // no gradient: skipped
  double norm = clip_grad_norm(params, 1.0);
  EXPECT_EQ(norm, std::sqrt(want)) << "same sums as sum_all(mul(g, g)) per tensor";
  ASSERT_GT(norm, 1.0);
  float factor = static_cast<float>(1.0 / (norm + 1e-6));
  for (size_t k = 0; k < grads.size(); ++k) {
    std::vector<float> got = params[k].grad().to_vector<float>();
    std::vector<float> g = grads[k].to_vector<float>();
    for (size_t i = 0; i < g.size(); ++i) ASSERT_EQ(got[i], g[i] * factor) << k << " " << i;
  }
  EXPECT_NEAR(clip_grad_norm(params, 1.0), 1.0, 1e-5) << "clipped to max_norm";
}

TEST(ClipGradNorm, MixedDtypesAreSummedPerGroup) {
  Tensor a = Tensor::zeros({2}).set_requires_grad(true);
  Tensor b = Tensor::zeros({1}, DType::F64).set_requires_grad(true);
  a.set_grad(Tensor::from_vector<float>({3, 0}, {2}));
  b.set_grad(Tensor::from_vector<double>({4}, {1}));
  EXPECT_DOUBLE_EQ(clip_grad_norm({a, b}, 1.0), 5.0);
  EXPECT_NEAR(a.grad().to_vector<double>()[0], 0.6, 1e-6);
  EXPECT_NEAR(b.grad().to_vector<double>()[0], 0.8, 1e-6);
}

}  // namespace
}  // namespace st
