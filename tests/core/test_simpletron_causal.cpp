// The chunked causal SimpleTRON op (core/ops/simpletron/), in its sequential form (CPU), its
// chunk-parallel form (CUDA, run here on the CPU) and the projection layout (B, N, H*d_h) that
// the model calls, equals the naive masked O(N^2) formula
//   Y = diag(s) (tril(Q K^T) V + Q S0)
// forward and backward, for N in {1, 7, 64, 100, 1000} and chunk sizes {1, 16, 64}, in fp64.
#include <gtest/gtest.h>

#include <cmath>

#include "core/autograd/gradcheck.h"
#include "core/ops/ops.h"
#include "core/ops/precision.h"

namespace st {
namespace {

Tensor causal_scales(int64_t N) {
  std::vector<double> s(N);
  for (int64_t t = 0; t < N; ++t) s[t] = 1.0 / std::sqrt(static_cast<double>(t + 1));
  return Tensor::from_vector(s, {N});
}

Tensor naive_causal(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& s,
                    const Tensor& s0) {
  int64_t N = q.size(2);
  Tensor upper = triangle_ones(N, Triangle::StrictUpper, DType::I32, Device::cpu());
  Tensor a = masked_fill(matmul(q, k.transpose(2, 3)), upper, 0.0);
  Tensor o = matmul(a, v);
  if (s0.defined()) o = add(o, matmul(q, s0));
  return mul(o, s.reshape({N, 1}));
}

double max_rel(const Tensor& a, const Tensor& b) {
  auto x = a.to_vector<double>(), y = b.to_vector<double>();
  double num = 0, den = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    num = std::max(num, std::fabs(x[i] - y[i]));
    den = std::max(den, std::fabs(y[i]));
  }
  return den > 0 ? num / den : num;
}

TEST(TriangleOnes, LowerAndStrictUpperOfThree) {
  EXPECT_EQ(triangle_ones(3, Triangle::Lower, DType::F64, Device::cpu()).to_vector<double>(),
            (std::vector<double>{1, 0, 0, 1, 1, 0, 1, 1, 1}));
  EXPECT_EQ(triangle_ones(3, Triangle::StrictUpper, DType::I32, Device::cpu()).to_vector<int32_t>(),
            (std::vector<int32_t>{0, 1, 1, 0, 0, 1, 0, 0, 0}));
  EXPECT_EQ(triangle_ones(0, Triangle::Lower, DType::F32, Device::cpu()).numel(), 0);
}

struct Case {
  int64_t n, chunk;
};

class CausalChunked : public ::testing::TestWithParam<Case> {};

using CausalOp = Tensor (*)(const Tensor&, const Tensor&, const Tensor&, const Tensor&, int64_t,
                            const Tensor&);

void expect_matches_naive(CausalOp op, int64_t N, int64_t chunk) {
  const int64_t B = 2, H = 2, dh = 3;
  auto leaf = [&](uint64_t seed) {
    return Tensor::randn({B, H, N, dh}, seed, 1.0, DType::F64).set_requires_grad(true);
  };
  Tensor q1 = leaf(1), k1 = leaf(2), v1 = leaf(3);
  Tensor q2 = q1.detach().clone().set_requires_grad(true);
  Tensor k2 = k1.detach().clone().set_requires_grad(true);
  Tensor v2 = v1.detach().clone().set_requires_grad(true);
  Tensor s = causal_scales(N);
  Tensor w = Tensor::randn({B, H, N, dh}, 9, 1.0, DType::F64);

  Tensor y1 = op(q1, k1, v1, s, chunk, Tensor());
  Tensor y2 = naive_causal(q2, k2, v2, s, Tensor());
  EXPECT_LE(max_rel(y1, y2), 1e-12) << "forward";
  sum_all(mul(y1, w)).backward();
  sum_all(mul(y2, w)).backward();
  EXPECT_LE(max_rel(q1.grad(), q2.grad()), 1e-12) << "dQ";
  EXPECT_LE(max_rel(k1.grad(), k2.grad()), 1e-12) << "dK";
  EXPECT_LE(max_rel(v1.grad(), v2.grad()), 1e-12) << "dV";
}

TEST_P(CausalChunked, MatchesNaiveForwardAndBackward) {
  expect_matches_naive(&simpletron_causal, GetParam().n, GetParam().chunk);
}

TEST_P(CausalChunked, ChunkParallelFormMatchesNaiveForwardAndBackward) {
  expect_matches_naive(&simpletron_causal_chunk_parallel, GetParam().n, GetParam().chunk);
}

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  for (int64_t n : {1, 7, 64, 100, 1000})
    for (int64_t c : {1, 16, 64}) cases.push_back({n, c});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Sizes, CausalChunked, ::testing::ValuesIn(all_cases()),
                         [](const auto& info) {
                           return "N" + std::to_string(info.param.n) + "_chunk" +
                                  std::to_string(info.param.chunk);
                         });

void expect_initial_state_matches_naive_and_gradchecks(CausalOp op) {
  const int64_t B = 1, H = 2, N = 9, dh = 3;
  Tensor q = Tensor::randn({B, H, N, dh}, 11, 1.0, DType::F64).set_requires_grad(true);
  Tensor k = Tensor::randn({B, H, N, dh}, 12, 1.0, DType::F64).set_requires_grad(true);
  Tensor v = Tensor::randn({B, H, N, dh}, 13, 1.0, DType::F64).set_requires_grad(true);
  Tensor s0 = Tensor::randn({B, H, dh, dh}, 14, 1.0, DType::F64).set_requires_grad(true);
  Tensor s = causal_scales(N);
  EXPECT_LE(max_rel(op(q, k, v, s, 4, s0), naive_causal(q, k, v, s, s0)), 1e-12);
  GradcheckResult r = gradcheck(
      [&](const std::vector<Tensor>& x) { return op(x[0], x[1], x[2], s, 4, x[3]); }, {q, k, v, s0});
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(CausalChunked, InitialStateMatchesNaiveAndGradchecks) {
  expect_initial_state_matches_naive_and_gradchecks(&simpletron_causal);
}

TEST(CausalChunked, ChunkParallelInitialStateMatchesNaiveAndGradchecks) {
  expect_initial_state_matches_naive_and_gradchecks(&simpletron_causal_chunk_parallel);
}

TEST(CausalChunked, Bf16RunsTheChunkParallelFormWithRoundedProducts) {
  // Under compute precision bf16 both entry points take the chunk-parallel form, whose products
  // round their operands to bf16 (the sequential form multiplies in f32): the same values as
  // that form, and farther from fp32 than rounding alone.
  const int64_t B = 2, H = 2, N = 100, dh = 8;
  Tensor q = Tensor::randn({B, H, N, dh}, 31), k = Tensor::randn({B, H, N, dh}, 32);
  Tensor v = Tensor::randn({B, H, N, dh}, 33);
  Tensor s = causal_scales(N).to(DType::F32);
  Tensor full = simpletron_causal(q, k, v, s, 16);
  PrecisionScope bf16(Precision::BF16);
  Tensor rounded = simpletron_causal(q, k, v, s, 16), parallel = simpletron_causal_chunk_parallel(q, k, v, s, 16);
  EXPECT_EQ(max_rel(rounded, parallel), 0.0);
  EXPECT_GT(max_rel(rounded, full), 1e-4) << "bf16 products must round";
  auto merged = [&](const Tensor& x) { return x.permute({0, 2, 1, 3}).reshape({B, N, H * dh}); };
  Tensor heads = simpletron_causal_heads(merged(q), merged(k), merged(v), H, s, 16);
  EXPECT_EQ(max_rel(heads, merged(parallel)), 0.0);
}

// The projection layout (B, N, H*d_h) against the naive formula on the permuted heads, forward
// and backward, with an initial state; q, k, v are column blocks of one (B, N, 3 H d_h) tensor,
// as a fused projection would give them.
void expect_heads_layout_matches_naive(int64_t N, int64_t chunk) {
  const int64_t B = 2, H = 3, dh = 4, HD = H * dh;
  Tensor qkv = Tensor::randn({B, N, 3 * HD}, 41, 1.0, DType::F64).set_requires_grad(true);
  Tensor s0 = Tensor::randn({B, H, dh, dh}, 42, 0.5, DType::F64).set_requires_grad(true);
  Tensor qkv2 = qkv.detach().clone().set_requires_grad(true);
  Tensor s02 = s0.detach().clone().set_requires_grad(true);
  Tensor s = causal_scales(N);
  Tensor w = Tensor::randn({B, N, HD}, 43, 1.0, DType::F64);
  auto part = [&](const Tensor& x, int64_t i) { return x.narrow(2, i * HD, HD); };
  auto split = [&](const Tensor& x) { return x.reshape({B, N, H, dh}).permute({0, 2, 1, 3}); };
  Tensor y1 = simpletron_causal_heads(part(qkv, 0), part(qkv, 1), part(qkv, 2), H, s, chunk, s0);
  Tensor y2 = naive_causal(split(part(qkv2, 0)), split(part(qkv2, 1)), split(part(qkv2, 2)), s, s02)
                  .permute({0, 2, 1, 3})
                  .reshape({B, N, HD});
  EXPECT_LE(max_rel(y1, y2), 1e-12) << "forward";
  sum_all(mul(y1, w)).backward();
  sum_all(mul(y2, w)).backward();
  EXPECT_LE(max_rel(qkv.grad(), qkv2.grad()), 1e-12) << "dQ, dK, dV";
  EXPECT_LE(max_rel(s0.grad(), s02.grad()), 1e-12) << "dS0";
}

TEST_P(CausalChunked, HeadsLayoutMatchesNaiveForwardAndBackward) {
  expect_heads_layout_matches_naive(GetParam().n, GetParam().chunk);
}

TEST(CausalChunked, HeadsLayoutGradchecks) {
  const int64_t B = 2, H = 2, N = 9, dh = 3;
  auto leaf = [&](const Shape& shape, uint64_t seed) {
    return Tensor::randn(shape, seed, 1.0, DType::F64).set_requires_grad(true);
  };
  Tensor s = causal_scales(N);
  GradcheckResult r = gradcheck(
      [&](const std::vector<Tensor>& x) { return simpletron_causal_heads(x[0], x[1], x[2], H, s, 4, x[3]); },
      {leaf({B, N, H * dh}, 51), leaf({B, N, H * dh}, 52), leaf({B, N, H * dh}, 53), leaf({B, H, dh, dh}, 54)});
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(CausalChunked, SplitSequenceWithCarriedStateEqualsWhole) {
  // What a sequence-parallel rank computes: the second half with the first half's state.
  const int64_t B = 1, H = 1, N = 10, dh = 2;
  Tensor q = Tensor::randn({B, H, N, dh}, 21, 1.0, DType::F64);
  Tensor k = Tensor::randn({B, H, N, dh}, 22, 1.0, DType::F64);
  Tensor v = Tensor::randn({B, H, N, dh}, 23, 1.0, DType::F64);
  Tensor s = causal_scales(N);
  Tensor whole = simpletron_causal(q, k, v, s, 3);
  Tensor state = matmul(k.narrow(2, 0, 6).transpose(2, 3), v.narrow(2, 0, 6));
  Tensor second = simpletron_causal(q.narrow(2, 6, 4), k.narrow(2, 6, 4), v.narrow(2, 6, 4),
                                    s.narrow(0, 6, 4), 3, state);
  EXPECT_LE(max_rel(second, whole.narrow(2, 6, 4)), 1e-13);
}

TEST(CausalChunked, BadArgumentsAreClearErrors) {
  Tensor q = Tensor::zeros({1, 1, 4, 2});
  EXPECT_THROW(simpletron_causal(q, q, q, Tensor::ones({4}), 0), Error);
  EXPECT_THROW(simpletron_causal(q, q, Tensor::zeros({1, 1, 5, 2}), Tensor::ones({4}), 2), Error);
  EXPECT_THROW(simpletron_causal(q, q, q, Tensor::ones({3}), 2), Error);
  EXPECT_THROW(simpletron_causal_chunk_parallel(q, q, q, Tensor::ones({4}), 0), Error);
  EXPECT_THROW(simpletron_causal_chunk_parallel(q, q, q, Tensor::ones({3}), 2), Error);
  Tensor x = Tensor::zeros({1, 4, 6});
  EXPECT_THROW(simpletron_causal_heads(x, x, x, 4, Tensor::ones({4}), 2), Error);  // 6 columns, 4 heads
  EXPECT_THROW(simpletron_causal_heads(x, x, x, 2, Tensor::ones({4}), 2, Tensor::zeros({1, 2, 2, 2})), Error);
  EXPECT_THROW(simpletron_causal_heads(x, x, q, 2, Tensor::ones({4}), 2), Error);
}

}  // namespace
}  // namespace st
