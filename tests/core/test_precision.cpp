// Compute precision bf16 (core/ops/precision.h) on the CPU, where it is emulated: every
// matrix product must equal the f32 (here: f64) product of its operands rounded to bf16, in
// forward and backward, write f32, and differ from the unrounded f32 product. The bf16 GEMM
// of the CPU backend is checked directly too (f32 and bf16 outputs, transposes, batches).
#include <gtest/gtest.h>

#include "core/ops/ops.h"
#include "core/ops/precision.h"
#include "tests/core/test_util.h"

namespace st {
namespace {

using testing::rel_error;

Tensor rand32(const Shape& s, uint64_t seed, bool grad = false) {
  Tensor t = Tensor::randn(s, seed, 1.0, DType::F32);
  if (grad) t.set_requires_grad(true);
  return t;
}

// x rounded to bf16 and widened again, in f64 (the exact value a bf16 product multiplies).
Tensor rounded(const Tensor& x) { return x.detach().to(DType::BF16).to(DType::F64); }
Tensor f64(const Tensor& x) { return x.detach().to(DType::F64); }

// f32 accumulation over k <= 64 terms of size ~1: errors ~1e-6 relative, against 2^-9 = 2e-3
// for an operand that was not rounded.
constexpr double kAccumulation = 1e-5;
constexpr double kRounding = 1e-4;  // smaller than any difference that rounding makes here

TEST(PrecisionScope, NestsAndRestores) {
  EXPECT_EQ(compute_precision(), Precision::FP32);
  {
    PrecisionScope a(Precision::BF16);
    EXPECT_EQ(compute_precision(), Precision::BF16);
    {
      PrecisionScope b(Precision::FP32);
      EXPECT_EQ(compute_precision(), Precision::FP32);
    }
    EXPECT_EQ(compute_precision(), Precision::BF16);
  }
  EXPECT_EQ(compute_precision(), Precision::FP32);
  EXPECT_EQ(parse_precision("bf16"), Precision::BF16);
  EXPECT_STREQ(precision_name(Precision::FP32), "fp32");
  try {
    parse_precision("fp16");
    FAIL() << "fp16 was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'fp16'"), std::string::npos) << e.what();
  }
}

TEST(Bf16Gemm, CpuBackendMultipliesRoundedOperandsWithF32OrBf16Output) {
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      int64_t m = 5, n = 7, k = 33, batch = 3;
      Tensor a = rand32(ta ? Shape{batch, k, m} : Shape{batch, m, k}, 1).to(DType::BF16);
      Tensor b = rand32(tb ? Shape{n, k} : Shape{k, n}, 2).to(DType::BF16);  // shared by the batch
      Tensor c0 = rand32({batch, m, n}, 3);
      GemmArgs g;
      g.trans_a = ta;
      g.trans_b = tb;
      g.m = m;
      g.n = n;
      g.k = k;
      g.beta = 1.0;
      g.alpha = 0.5;
      g.dtype = DType::BF16;
      g.a = a.raw_data();
      g.lda = ta ? m : k;
      g.stride_a = m * k;
      g.b = b.raw_data();
      g.ldb = tb ? k : n;
      g.stride_b = 0;
      g.ldc = n;
      g.stride_c = m * n;
      g.batch = batch;
      Tensor a64 = f64(a), b64 = f64(b);
      Tensor opa = ta ? a64.transpose(1, 2) : a64, opb = tb ? b64.transpose(0, 1) : b64;
      Tensor want = add(scale(matmul(opa, opb), 0.5), f64(c0));

      Tensor c = c0.clone();
      g.c_f32 = true;
      g.c = c.raw_data();
      cpu_backend().gemm(g);
      EXPECT_LT(rel_error(c, want), kAccumulation) << ta << tb;

      Tensor cb0 = c0.to(DType::BF16);  // bf16 C: read, accumulated in f32, rounded once
      Tensor want_b = add(scale(matmul(opa, opb), 0.5), f64(cb0));
      Tensor cb = cb0.clone();
      g.c_f32 = false;
      g.c = cb.raw_data();
      cpu_backend().gemm(g);
      EXPECT_EQ(cb.dtype(), DType::BF16);
      EXPECT_LT(rel_error(f64(cb), want_b), 1.0 / 128) << "one bf16 rounding of the result";
      EXPECT_GT(rel_error(f64(cb), want_b), 0.0) << "the result was rounded to bf16";
    }
  GemmArgs bad;
  bad.m = bad.n = bad.k = 1;
  bad.c_f32 = true;
  EXPECT_THROW(cpu_backend().gemm(bad), Error) << "c_f32 with f32 operands";
}

TEST(Bf16Products, MatmulForwardAndBackwardRoundEveryOperand) {
  Tensor a = rand32({2, 6, 40}, 4, true), b = rand32({40, 9}, 5, true);
  Tensor y, gy = rand32({2, 6, 9}, 6);
  {
    PrecisionScope p(Precision::BF16);
    y = matmul(a, b);
  }
  EXPECT_EQ(y.dtype(), DType::F32);
  EXPECT_LT(rel_error(y, matmul(rounded(a), rounded(b))), kAccumulation);
  EXPECT_GT(rel_error(y, matmul(f64(a), f64(b))), kRounding) << "the operands were not rounded";
  // Backward outside the scope still runs in the precision of its forward.
  sum_all(mul(y, gy)).backward();
  Tensor g = rounded(gy);
  EXPECT_LT(rel_error(a.grad(), matmul(g, rounded(b).transpose(0, 1))), kAccumulation);
  Tensor db = matmul(rounded(a).reshape({12, 40}).transpose(0, 1), g.reshape({12, 9}));
  EXPECT_LT(rel_error(b.grad(), db), kAccumulation);
  EXPECT_GT(rel_error(a.grad(), matmul(f64(gy), f64(b).transpose(0, 1))), kRounding);
}

TEST(Bf16Products, LinearRoundsProductsButNotTheBias) {
  Tensor x = rand32({3, 5, 24}, 7, true), w = rand32({10, 24}, 8, true), b = rand32({10}, 9, true);
  Tensor y;
  {
    PrecisionScope p(Precision::BF16);
    y = linear(x, w, b);
  }
  Tensor want = add(matmul(rounded(x), rounded(w).transpose(0, 1)), f64(b));
  EXPECT_LT(rel_error(y, want), kAccumulation);
  Tensor gy = rand32({3, 5, 10}, 10);
  sum_all(mul(y, gy)).backward();
  Tensor g = rounded(gy);
  EXPECT_LT(rel_error(x.grad(), matmul(g, rounded(w))), kAccumulation);
  EXPECT_LT(rel_error(w.grad(), matmul(g.reshape({15, 10}).transpose(0, 1), rounded(x).reshape({15, 24}))),
            kAccumulation);
  EXPECT_LT(rel_error(b.grad(), sum(f64(gy), {0, 1})), 1e-6) << "the bias gradient is an f32 sum";
}

TEST(Bf16Products, HeadProductsKeepAnF32State) {
  int64_t B = 2, N = 11, H = 2, dh = 8;
  Tensor k = rand32({B, N, H * dh}, 11, true), v = rand32({B, N, H * dh}, 12, true);
  Tensor q = rand32({B, N, H * dh}, 13, true);
  Tensor s, y;
  {
    PrecisionScope p(Precision::BF16);
    s = heads_state(k, v, H);
    y = heads_apply(q, s);
  }
  EXPECT_EQ(s.dtype(), DType::F32);
  EXPECT_EQ(y.dtype(), DType::F32);
  auto heads = [&](const Tensor& t) { return t.reshape({B, N, H, dh}).transpose(1, 2); };  // (B, H, N, dh)
  Tensor s_want = matmul(heads(rounded(k)).transpose(2, 3), heads(rounded(v)));
  EXPECT_LT(rel_error(s, s_want), kAccumulation);
  Tensor y_want = matmul(heads(rounded(q)), rounded(s)).transpose(1, 2).reshape({B, N, H * dh});
  EXPECT_LT(rel_error(y, y_want), kAccumulation);
  Tensor gy = rand32({B, N, H * dh}, 14);
  sum_all(mul(y, gy)).backward();
  Tensor dq_want = matmul(heads(rounded(gy)), rounded(s).transpose(2, 3)).transpose(1, 2).reshape({B, N, H * dh});
  EXPECT_LT(rel_error(q.grad(), dq_want), kAccumulation);
  ASSERT_TRUE(k.grad().defined() && v.grad().defined());
  EXPECT_EQ(k.grad().dtype(), DType::F32);
}

TEST(Bf16Products, F64AndFp32ScopesAreUntouched) {
  Tensor a = rand32({4, 8}, 15), b = rand32({8, 3}, 16);
  Tensor ref = matmul(a, b);
  Tensor a64 = f64(a), b64 = f64(b);
  PrecisionScope p(Precision::BF16);
  EXPECT_TRUE(testing::bitwise_equal(matmul(a64, b64), matmul(f64(a), f64(b))));
  EXPECT_EQ(matmul(a64, b64).dtype(), DType::F64) << "f64 products (gradient checks) stay f64";
  PrecisionScope q(Precision::FP32);
  EXPECT_TRUE(testing::bitwise_equal(matmul(a, b), ref));
}

}  // namespace
}  // namespace st
