// Host-side rules of the cuDNN fused softmax attention, on any machine: when
// fused_softmax_attention_available says no and why (shape, dtype, head dim, compute precision,
// device, build), that the op refuses with that reason, that the build-time flag agrees with the
// build's CUDA support, and that builds without it fail their entry points clearly. The kernels
// themselves are compared with the unfused path in test_cuda_fused_attention.cpp (label cuda).
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "core/backend/backend.h"
#include "core/backend/fused_attention.h"
#include "core/ops/ops.h"
#include "core/ops/precision.h"

namespace st {
namespace {

Tensor heads(int64_t B, int64_t H, int64_t N, int64_t dh, DType t = DType::F32) {
  return Tensor::randn({B, H, N, dh}, 7, 1.0, t);
}

void expect_problem(const Tensor& q, const std::string& part) {
  std::string p = fused_softmax_attention_problem(q);
  EXPECT_NE(p.find(part), std::string::npos) << "problem '" << p << "' lacks '" << part << "'";
  EXPECT_FALSE(fused_softmax_attention_available(q));
}

TEST(FusedAttentionRules, ShapeDtypeAndHeadDim) {
  PrecisionScope bf16(Precision::BF16);
  expect_problem(Tensor(), "(B, H, N, d_h)");
  expect_problem(Tensor::zeros({2, 7, 64}), "(B, H, N, d_h)");
  expect_problem(heads(2, 3, 7, 64, DType::F64), "q is f64");
  expect_problem(heads(1, 2, 5, 12), "head dim d_h 12");   // not a multiple of 8
  expect_problem(heads(1, 2, 5, 136), "head dim d_h 136");  // above 128
  expect_problem(Tensor::zeros({0, 2, 5, 64}), "is empty");
}

TEST(FusedAttentionRules, NeedsBf16Precision) {
  Tensor q = heads(2, 3, 7, 64);
  ASSERT_EQ(compute_precision(), Precision::FP32);
  expect_problem(q, "compute precision is fp32");
}

TEST(FusedAttentionRules, NeedsCuda) {
  PrecisionScope bf16(Precision::BF16);
  for (int64_t dh : {8, 40, 64, 128}) expect_problem(heads(1, 2, 5, dh), "q is on cpu");
}

TEST(FusedAttentionRules, OpRefusesWithTheReason) {
  Tensor q = heads(2, 3, 7, 64), k = heads(2, 3, 7, 64), v = heads(2, 3, 7, 64);
  try {
    softmax_attention_fused(q, k, v, Tensor(), Tensor(), false, 0.125);
    FAIL() << "softmax_attention_fused ran on cpu in fp32";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("softmax_attention_fused: compute precision is fp32"), std::string::npos) << m;
  }
  PrecisionScope bf16(Precision::BF16);
  try {
    softmax_attention_fused(q, k, v, Tensor(), Tensor(), true, 0.125);
    FAIL() << "softmax_attention_fused ran on cpu";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("softmax_attention_fused: q is on cpu"), std::string::npos) << m;
  }
}

TEST(FusedAttentionBuild, FlagAgreesWithTheBuild) {
  if (!cuda_built()) {
    EXPECT_FALSE(cudnn_fused_attention_built());
  }
  int invisible = cuda_device_count();  // one past the last visible device
  std::string p = cuda_fused_attention_device_problem(invisible);
  if (cudnn_fused_attention_built()) {
    EXPECT_NE(p.find("is not visible"), std::string::npos) << p;
  } else {
    EXPECT_NE(p.find("no cuDNN fused attention"), std::string::npos) << p;
  }
}

TEST(FusedAttentionBuild, EntryPointsOfABuildWithoutItSayWhy) {
  if (cudnn_fused_attention_built()) GTEST_SKIP() << "this build has the fused attention";
  FusedAttentionArgs args;
  try {
    cuda_fused_attention_forward(args, Tensor(), Tensor());
    FAIL() << "forward did not throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("fused attention forward: this build has no"),
              std::string::npos)
        << e.what();
  }
  try {
    cuda_fused_attention_backward(args, Tensor(), Tensor(), Tensor(), Tensor(), Tensor(),
                                  Tensor());
    FAIL() << "backward did not throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("fused attention backward: this build has no"),
              std::string::npos)
        << e.what();
  }
}

TEST(FusedAttentionBuild, MaskBiasIsFiniteInBf16AndSeparatesEmptyRows) {
  // The additive mask must stay finite in bf16 (no inf - inf in a row with no valid key) and
  // the empty-row threshold must lie between it and any plausible score.
  float as_bf16 = bf16_to_float(float_to_bf16(static_cast<float>(kFusedAttentionMaskBias)));
  EXPECT_TRUE(std::isfinite(as_bf16));
  EXPECT_LT(as_bf16, kFusedAttentionEmptyRowStats - 1e5);
  EXPECT_LT(kFusedAttentionEmptyRowStats, -1e5);
  // exp(bias) underflows to exactly 0 in f32: masked keys get no weight next to a valid one.
  EXPECT_EQ(std::exp(static_cast<float>(kFusedAttentionMaskBias) + 100.0f), 0.0f);
}

}  // namespace
}  // namespace st
