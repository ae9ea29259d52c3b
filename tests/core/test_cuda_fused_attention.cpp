// cuDNN fused softmax attention on CUDA against the unfused f32 ops on the CPU (matmul, masked
// fill with -inf, softmax, matmul): forward and the gradients of q, k and v, for awkward shapes,
// key padding anywhere (interior, suffix, leading, a fully masked example; by the N x N bias) and
// at the ends of the sequences (also by key lengths, cuDNN's padding mask), causal or not,
// deterministic or not, and fewer queries than keys; the memory of the two maskings; a shape
// cuDNN refuses. Inputs are rounded to bf16 first so that both sides see the same operands.
// Every test is skipped, with the reason, without a GPU or a build with the fused path.
#include <gtest/gtest.h>

#include <cudnn.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/backend/backend.h"
#include "core/backend/fused_attention.h"
#include "core/ops/ops.h"
#include "core/ops/precision.h"
#include "tests/support/cuda_compare.h"

namespace st {
namespace {

#define ST_REQUIRE_FUSED_ATTENTION()                                                        \
  do {                                                                                      \
    ST_REQUIRE_CUDA();                                                                      \
    if (!cudnn_fused_attention_built())                                                     \
      GTEST_SKIP() << "this build has no cuDNN fused attention";                            \
    std::string problem_ = cuda_fused_attention_device_problem(0);                          \
    if (!problem_.empty()) GTEST_SKIP() << problem_;                                        \
  } while (0)

const Device kCuda = Device::cuda(0);

// Tolerances (max |got - want| / max |want|). The operands are the same bf16 values on both
// sides; what remains is the kernel's own rounding: the probabilities P are rounded to bf16
// before P V (relative 2^-9 each, so at most 2^-9 max|v| summed over a row), the output to bf16
// (2^-9), and the reference's f32 reassociation (negligible). That is under 0.5% of the
// largest output; 1e-2 leaves room for rows that mix large scores. The backward pass rounds
// dO, P and dS = P (dP - D) to bf16 before three more products and writes bf16 gradients, so
// about twice that: 2e-2.
constexpr double kForwardTol = 1e-2;
constexpr double kGradTol = 2e-2;

enum class KeyMask : uint8_t { None, Interior, Suffix, Leading, EmptyExample, SuffixAndEmpty };

struct Case {
  int64_t B, H, Nq, Nk, dh;
  bool causal;
  KeyMask mask;
};

std::string describe(const Case& c) {
  const char* m[] = {"none", "interior", "suffix", "leading", "empty example", "suffix, example 0 empty"};
  return "B " + std::to_string(c.B) + " H " + std::to_string(c.H) + " Nq " +
         std::to_string(c.Nq) + " Nk " + std::to_string(c.Nk) + " d_h " + std::to_string(c.dh) +
         (c.causal ? " causal" : "") + " mask " + m[static_cast<int>(c.mask)];
}

// f32 values that are exactly representable in bf16.
Tensor bf16_values(const Shape& s, uint64_t seed) {
  return Tensor::randn(s, seed, 1.0, DType::F32).to(DType::BF16).to(DType::F32);
}

// (B, 1, 1, Nk) i32, nonzero = masked key.
Tensor key_mask(const Case& c) {
  if (c.mask == KeyMask::None) return Tensor();
  std::vector<int32_t> m(c.B * c.Nk, 0);
  for (int64_t b = 0; b < c.B; ++b)
    for (int64_t j = 0; j < c.Nk; ++j) {
      int32_t& x = m[b * c.Nk + j];
      switch (c.mask) {
        case KeyMask::Interior: x = (j * 7 + b * 3) % 5 == 2; break;
        case KeyMask::Suffix: x = j >= c.Nk - 1 - b * 2; break;
        case KeyMask::Leading: x = j < 3 + b; break;  // causal rows before 3 + b see no key
        case KeyMask::EmptyExample: x = b == 0 || j % 4 == 3; break;
        case KeyMask::SuffixAndEmpty: x = b == 0 || j >= c.Nk - 1 - b * 2; break;
        case KeyMask::None: break;
      }
    }
  return Tensor::from_vector(m, {c.B, 1, 1, c.Nk});
}

// (B, 1, 1, 1) i32 unmasked keys per example, where the mask only masks a suffix; else undefined.
Tensor key_lengths(const Case& c) {
  if (c.mask != KeyMask::Suffix && c.mask != KeyMask::SuffixAndEmpty) return Tensor();
  std::vector<int32_t> mask = key_mask(c).to_vector<int32_t>(), n(c.B, 0);
  for (int64_t b = 0; b < c.B; ++b)
    for (int64_t j = 0; j < c.Nk; ++j) n[b] += mask[b * c.Nk + j] == 0;
  return Tensor::from_vector(n, {c.B, 1, 1, 1});
}

// The unfused path of the softmax attention baseline, in f32 on the CPU.
Tensor reference(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask,
                 bool causal, double s) {
  Tensor scores = scale(matmul(q, k.transpose(2, 3)), s);
  if (mask.defined()) scores = masked_fill(scores, mask, -INFINITY);
  if (causal) {
    scores = masked_fill(scores, triangle_ones(q.size(2), Triangle::StrictUpper, DType::I32, q.device()),
                         -INFINITY);
  }
  return matmul(softmax(scores), v);
}

double rel_error(const Tensor& got, const Tensor& want) {
  std::vector<double> a = got.to(Device::cpu()).to_vector<double>(), b = want.to_vector<double>();
  EXPECT_EQ(a.size(), b.size());
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    if (!std::isfinite(a[i])) return INFINITY;
    num = std::max(num, std::fabs(a[i] - b[i]));
    den = std::max(den, std::fabs(b[i]));
  }
  return den > 0 ? num / den : num;
}

bool all_zero(const Tensor& t) {
  for (double x : t.to(Device::cpu()).to_vector<double>())
    if (x != 0.0) return false;
  return true;
}

struct Result {
  Tensor out, dq, dk, dv;
};

// Masked keys by the mask (the N x N bias) or, with lengths defined, by the lengths alone.
Result run_fused(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask,
                 const Tensor& g, bool causal, double s, const Tensor& lengths = Tensor(),
                 bool deterministic = true) {
  PrecisionScope bf16(Precision::BF16);
  Tensor qg = q.to(kCuda).set_requires_grad(true);
  Tensor kg = k.to(kCuda).set_requires_grad(true);
  Tensor vg = v.to(kCuda).set_requires_grad(true);
  Tensor mg = mask.defined() && !lengths.defined() ? mask.to(kCuda) : Tensor();
  Tensor lg = lengths.defined() ? lengths.to(kCuda) : Tensor();
  Tensor out = softmax_attention_fused(qg, kg, vg, mg, lg, causal, s, deterministic);
  out.backward(g.to(kCuda));
  return {out.to(Device::cpu()), qg.grad().to(Device::cpu()), kg.grad().to(Device::cpu()),
          vg.grad().to(Device::cpu())};
}

void check_case(const Case& c) {
  SCOPED_TRACE(describe(c));
  double s = 1.0 / std::sqrt(double(c.dh));
  Tensor q = bf16_values({c.B, c.H, c.Nq, c.dh}, 11).set_requires_grad(true);
  Tensor k = bf16_values({c.B, c.H, c.Nk, c.dh}, 12).set_requires_grad(true);
  Tensor v = bf16_values({c.B, c.H, c.Nk, c.dh}, 13).set_requires_grad(true);
  Tensor g = Tensor::randn({c.B, c.H, c.Nq, c.dh}, 14);
  Tensor mask = key_mask(c);
  Tensor want = reference(q, k, v, mask, c.causal, s);
  want.backward(g);

  Tensor lengths = key_lengths(c);
  for (int by_lengths = 0; by_lengths < (lengths.defined() ? 2 : 1); ++by_lengths)
    for (bool deterministic : {true, false}) {
      SCOPED_TRACE(std::string(by_lengths ? "key lengths" : "key bias") +
                   (deterministic ? ", deterministic" : ", atomic dQ"));
      Result got = run_fused(q.detach(), k.detach(), v.detach(), mask, g, c.causal, s,
                             by_lengths ? lengths : Tensor(), deterministic);
      EXPECT_LE(rel_error(got.out, want), kForwardTol);
      EXPECT_LE(rel_error(got.dq, q.grad()), kGradTol);
      EXPECT_LE(rel_error(got.dk, k.grad()), kGradTol);
      EXPECT_LE(rel_error(got.dv, v.grad()), kGradTol);
      if (c.mask == KeyMask::EmptyExample || c.mask == KeyMask::SuffixAndEmpty) {
        // example 0 has no key: 0 out, no gradient anywhere
        EXPECT_TRUE(all_zero(got.out.narrow(0, 0, 1)));
        EXPECT_TRUE(all_zero(got.dq.narrow(0, 0, 1)));
        EXPECT_TRUE(all_zero(got.dk.narrow(0, 0, 1)));
        EXPECT_TRUE(all_zero(got.dv.narrow(0, 0, 1)));
      }
    }
}

TEST(CudaFusedAttention, MatchesUnfusedWithoutMask) {
  ST_REQUIRE_FUSED_ATTENTION();
  check_case({2, 3, 7, 7, 64, false, KeyMask::None});
  check_case({1, 2, 100, 100, 40, false, KeyMask::None});
  check_case({3, 1, 33, 33, 128, false, KeyMask::None});
  check_case({2, 2, 1, 1, 8, false, KeyMask::None});
}

TEST(CudaFusedAttention, MatchesUnfusedCausal) {
  ST_REQUIRE_FUSED_ATTENTION();
  check_case({2, 3, 7, 7, 64, true, KeyMask::None});
  check_case({1, 4, 100, 100, 32, true, KeyMask::None});
  check_case({2, 2, 33, 33, 128, true, KeyMask::Suffix});
}

TEST(CudaFusedAttention, MatchesUnfusedWithKeyPaddingAnywhere) {
  ST_REQUIRE_FUSED_ATTENTION();
  check_case({3, 2, 33, 33, 64, false, KeyMask::Interior});
  check_case({3, 2, 100, 100, 16, false, KeyMask::Suffix});
  check_case({2, 3, 7, 7, 64, true, KeyMask::Interior});
}

TEST(CudaFusedAttention, RowsWithoutKeysGiveZeroAndNoGradient) {
  ST_REQUIRE_FUSED_ATTENTION();
  check_case({3, 2, 33, 33, 64, false, KeyMask::EmptyExample});
  check_case({2, 2, 17, 17, 64, true, KeyMask::Leading});  // first rows of each example empty
  check_case({3, 2, 33, 33, 64, false, KeyMask::SuffixAndEmpty});
  check_case({3, 2, 40, 40, 32, true, KeyMask::SuffixAndEmpty});
}

TEST(CudaFusedAttention, FewerQueriesThanKeys) {
  ST_REQUIRE_FUSED_ATTENTION();
  check_case({2, 3, 5, 33, 64, false, KeyMask::None});
  check_case({2, 3, 1, 100, 64, false, KeyMask::Interior});
  check_case({2, 3, 1, 100, 64, false, KeyMask::Suffix});
}

// Padding at the ends of the sequences costs O(N) memory: the peak of a forward and backward by
// key lengths stays far below that by the (B, 1, N, N) bias, which alone takes B N^2 bf16.
TEST(CudaFusedAttention, KeyLengthsNeedNoNByNBuffer) {
  ST_REQUIRE_FUSED_ATTENTION();
  Case c{2, 2, 4096, 4096, 64, false, KeyMask::Suffix};
  Tensor q = bf16_values({c.B, c.H, c.Nq, c.dh}, 31), k = bf16_values({c.B, c.H, c.Nk, c.dh}, 32);
  Tensor v = bf16_values({c.B, c.H, c.Nk, c.dh}, 33), g = Tensor::randn({c.B, c.H, c.Nq, c.dh}, 34);
  Tensor mask = key_mask(c), lengths = key_lengths(c);
  auto peak_of = [&](const Tensor& by_lengths) {
    run_fused(q, k, v, mask, g, false, 0.125, by_lengths, /*deterministic=*/false);  // graphs built
    int64_t before = memory_stats(kCuda).bytes_in_use;
    reset_peak_memory(kCuda);
    run_fused(q, k, v, mask, g, false, 0.125, by_lengths, /*deterministic=*/false);
    return memory_stats(kCuda).peak_bytes - before;
  };
  int64_t by_bias = peak_of(Tensor()), by_lengths = peak_of(lengths);
  double bias_bytes = 2.0 * c.B * c.Nq * c.Nk;
  std::printf("peak above the inputs: %.1f MiB by bias, %.1f MiB by key lengths (bias alone %.1f MiB)\n",
              by_bias / 1048576.0, by_lengths / 1048576.0, bias_bytes / 1048576.0);
  EXPECT_GE(static_cast<double>(by_bias - by_lengths), 0.75 * bias_bytes);
}

TEST(CudaFusedAttention, TheDeterministicWorkspaceIsReported) {
  ST_REQUIRE_FUSED_ATTENTION();
  EXPECT_EQ(fused_attention_dp_workspace_bytes(1, 16, 65536, 65536, false, 0), 0);
  int64_t dp = fused_attention_dp_workspace_bytes(1, 16, 65536, 65536, true, 0);
  std::printf("deterministic dP workspace at B 1, H 16, N 64K with cuDNN %zu: %.1f GiB\n", cudnnGetVersion(),
              dp / 1073741824.0);
  EXPECT_TRUE(dp == 0 || dp >= int64_t(2) * 16 * 65536 * 65536);
}

TEST(CudaFusedAttention, RepeatedCallsAreBitwiseEqual) {
  ST_REQUIRE_FUSED_ATTENTION();
  Case c{2, 3, 100, 100, 64, true, KeyMask::Interior};
  Tensor q = bf16_values({c.B, c.H, c.Nq, c.dh}, 21), k = bf16_values({c.B, c.H, c.Nk, c.dh}, 22);
  Tensor v = bf16_values({c.B, c.H, c.Nk, c.dh}, 23), g = Tensor::randn({c.B, c.H, c.Nq, c.dh}, 24);
  Tensor mask = key_mask(c);
  Result a = run_fused(q, k, v, mask, g, c.causal, 0.125);
  Result b = run_fused(q, k, v, mask, g, c.causal, 0.125);  // from the graph cache
  auto same = [](const Tensor& x, const Tensor& y) {
    Tensor cx = x.contiguous(), cy = y.contiguous();
    return std::memcmp(cx.raw_data(), cy.raw_data(), cx.numel() * dtype_size(cx.dtype())) == 0;
  };
  EXPECT_TRUE(same(a.out, b.out));
  EXPECT_TRUE(same(a.dq, b.dq));  // deterministic backward: no atomics in dQ
  EXPECT_TRUE(same(a.dk, b.dk));
  EXPECT_TRUE(same(a.dv, b.dv));
}

TEST(CudaFusedAttention, AvailabilityFollowsPrecisionOnCuda) {
  ST_REQUIRE_FUSED_ATTENTION();
  Tensor q = Tensor::zeros({1, 2, 5, 64}, DType::F32, kCuda);
  EXPECT_NE(fused_softmax_attention_problem(q).find("compute precision is fp32"),
            std::string::npos);
  PrecisionScope bf16(Precision::BF16);
  EXPECT_EQ(fused_softmax_attention_problem(q), "");
  EXPECT_NE(fused_softmax_attention_problem(Tensor::zeros({1, 2, 5, 60}, DType::F32, kCuda))
                .find("head dim d_h 60"),
            std::string::npos);
}

TEST(CudaFusedAttention, BadKeyMaskIsReported) {
  ST_REQUIRE_FUSED_ATTENTION();
  PrecisionScope bf16(Precision::BF16);
  Tensor q = Tensor::zeros({2, 2, 5, 64}, DType::F32, kCuda);
  Tensor mask = Tensor::zeros({2, 5}, DType::I32, kCuda);
  try {
    softmax_attention_fused(q, q, q, mask, Tensor(), false, 0.125);
    FAIL() << "a (2, 5) key mask was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("key_mask must be i32 (2, 1, 1, 5)"), std::string::npos)
        << e.what();
  }
}

// A shape cuDNN refuses is refused alone, before anything runs; other shapes stay fused.
TEST(CudaFusedAttention, ARefusalIsPerShape) {
  ST_REQUIRE_FUSED_ATTENTION();
  PrecisionScope bf16(Precision::BF16);
  Tensor refused = Tensor::zeros({1, 2, 5, 64}, DType::F32, kCuda).set_requires_grad(true);
  Tensor other = Tensor::zeros({1, 2, 6, 64}, DType::F32, kCuda).set_requires_grad(true);
  refuse_fused_attention_shape_for_testing(refused, "a test refusal");
  ASSERT_TRUE(fused_softmax_attention_available(refused));
  try {
    softmax_attention_fused(refused, refused, refused, Tensor(), Tensor(), false, 0.125);
    FAIL() << "a refused shape ran fused";
  } catch (const FusedAttentionRejected& e) {
    EXPECT_NE(std::string(e.what()).find("a test refusal"), std::string::npos) << e.what();
  }
  Tensor out = softmax_attention_fused(other, other, other, Tensor(), Tensor(), false, 0.125);
  EXPECT_EQ(out.shape(), other.shape());
  EXPECT_TRUE(fused_softmax_attention_available(refused));
}

}  // namespace
}  // namespace st
